"""``silkport keygen``: a new Ed25519 key file (mode 0600)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from chain.cli_common import add_output_option, print_json
from chain.crypto import KeyPair, save_key_file

DEFAULT_KEY_FILE = "silkport-key.json"


def keygen(args: argparse.Namespace) -> int:
    keypair = KeyPair.generate()
    save_key_file(args.output, keypair, overwrite=args.force)
    if args.json:
        print_json({"public_key": keypair.public_hex, "path": args.output})
    else:
        print(keypair.public_hex)
        print(f"wrote {args.output} (mode 0600)", file=sys.stderr)
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
    add_output_option(parser)
    parser.set_defaults(handler=keygen)
