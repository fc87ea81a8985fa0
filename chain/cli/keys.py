"""``silkport keygen``: a new Ed25519 key file (mode 0600), optionally passphrase-encrypted (ADR 0012).

``--encrypt`` takes the passphrase from ``--passphrase-file``, else ``$SILKPORT_KEY_PASSPHRASE``, else a
terminal prompt (asked twice). Every command taking ``--key`` reads encrypted files the same way.
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from typing import Any

from chain.cli.common import add_output_option, print_json
from chain.crypto import PASSPHRASE_ENV, KeyPair, read_passphrase_file, save_key_file
from chain.errors import KeyFormatError

DEFAULT_KEY_FILE = "silkport-key.json"


def new_passphrase(args: argparse.Namespace) -> bytes:
    """The passphrase for a new encrypted key file (file, environment or prompt twice)."""
    if args.passphrase_file:
        return read_passphrase_file(args.passphrase_file)
    from_env = os.environ.get(PASSPHRASE_ENV)
    if from_env:
        return from_env.encode()
    if not sys.stdin.isatty():
        raise KeyFormatError(f"--encrypt needs a passphrase: --passphrase-file, {PASSPHRASE_ENV} or a terminal")
    first = getpass.getpass("passphrase for the new key: ")
    if not first:
        raise KeyFormatError("an empty passphrase does not protect a key")
    if getpass.getpass("again: ") != first:
        raise KeyFormatError("the two passphrases differ")
    return first.encode()


def keygen(args: argparse.Namespace) -> int:
    if args.passphrase_file and not args.encrypt:
        raise KeyFormatError("--passphrase-file is for --encrypt")
    passphrase = new_passphrase(args) if args.encrypt else None
    keypair = KeyPair.generate()
    save_key_file(args.output, keypair, overwrite=args.force, passphrase=passphrase)
    if args.json:
        print_json({"public_key": keypair.public_hex, "path": args.output})
    else:
        print(keypair.public_hex)
        encrypted = ", encrypted with argon2id + xsalsa20-poly1305" if args.encrypt else ""
        print(f"wrote {args.output} (mode 0600{encrypted})", file=sys.stderr)
    return 0


def register(commands: Any) -> None:
    parser = commands.add_parser("keygen", help="create an Ed25519 key file (prints the public key)")
    parser.add_argument(
        "-o",
        "--output",
        default=DEFAULT_KEY_FILE,
        metavar="FILE",
        help=f"key file to write (default {DEFAULT_KEY_FILE})",
    )
    parser.add_argument("--force", action="store_true", help="overwrite an existing file")
    parser.add_argument("--encrypt", action="store_true", help="encrypt the key under a passphrase")
    parser.add_argument(
        "--passphrase-file", metavar="FILE", help=f"passphrase for --encrypt (else ${PASSPHRASE_ENV} or a prompt)"
    )
    add_output_option(parser)
    parser.set_defaults(handler=keygen)
