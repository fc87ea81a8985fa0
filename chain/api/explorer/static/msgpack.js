// Canonical msgpack (DESIGN.md §3, ADR 0008) for the receipt check: the subset Silkport signs and hashes.
// Types: nil, bool, integers (Number when safe, BigInt otherwise), str (UTF-8), bin (Uint8Array), arrays.
// Encoding picks the shortest form, as msgpack-python's packb(use_bin_type=True) does (msgpack spec,
// "Formats"); decoding rejects floats, maps, extensions and trailing bytes, like chain.codec.decode.
"use strict";
const SilkMsgpack = (() => {
  const utf8 = new TextEncoder();
  const utf8Decode = new TextDecoder("utf-8", { fatal: true });

  function encode(value) {
    const out = [];
    write(value, out, 0);
    const total = out.reduce((n, part) => n + part.length, 0);
    const bytes = new Uint8Array(total);
    let at = 0;
    for (const part of out) { bytes.set(part, at); at += part.length; }
    return bytes;
  }

  function be(value, size) {  // big-endian unsigned of `size` bytes from a BigInt
    const bytes = new Uint8Array(size);
    let v = BigInt.asUintN(size * 8, value);
    for (let i = size - 1; i >= 0; i--) { bytes[i] = Number(v & 0xffn); v >>= 8n; }
    return bytes;
  }

  function head(tag, value, size) { const h = new Uint8Array(1 + size); h[0] = tag; h.set(be(BigInt(value), size), 1); return h; }

  function writeInt(n, out) {
    if (n >= 0n) {
      if (n < 128n) out.push(Uint8Array.of(Number(n)));
      else if (n < 256n) out.push(head(0xcc, n, 1));
      else if (n < 65536n) out.push(head(0xcd, n, 2));
      else if (n < 4294967296n) out.push(head(0xce, n, 4));
      else if (n < 18446744073709551616n) out.push(head(0xcf, n, 8));
      else throw new Error("integer too large for msgpack");
    } else {
      if (n >= -32n) out.push(Uint8Array.of(Number(n + 256n)));
      else if (n >= -128n) out.push(head(0xd0, n, 1));
      else if (n >= -32768n) out.push(head(0xd1, n, 2));
      else if (n >= -2147483648n) out.push(head(0xd2, n, 4));
      else if (n >= -9223372036854775808n) out.push(head(0xd3, n, 8));
      else throw new Error("integer too small for msgpack");
    }
  }

  function write(value, out, depth) {
    if (depth > 64) throw new Error("nesting too deep");
    if (value === null) out.push(Uint8Array.of(0xc0));
    else if (value === false) out.push(Uint8Array.of(0xc2));
    else if (value === true) out.push(Uint8Array.of(0xc3));
    else if (typeof value === "bigint") writeInt(value, out);
    else if (typeof value === "number") {
      if (!Number.isSafeInteger(value)) throw new Error("only integers are canonical (no floats)");
      writeInt(BigInt(value), out);
    } else if (typeof value === "string") {
      const bytes = utf8.encode(value);
      const n = bytes.length;
      if (n < 32) out.push(Uint8Array.of(0xa0 | n));
      else if (n < 256) out.push(head(0xd9, n, 1));
      else if (n < 65536) out.push(head(0xda, n, 2));
      else out.push(head(0xdb, n, 4));
      out.push(bytes);
    } else if (value instanceof Uint8Array) {
      const n = value.length;
      if (n < 256) out.push(head(0xc4, n, 1));
      else if (n < 65536) out.push(head(0xc5, n, 2));
      else out.push(head(0xc6, n, 4));
      out.push(value);
    } else if (Array.isArray(value)) {
      const n = value.length;
      if (n < 16) out.push(Uint8Array.of(0x90 | n));
      else if (n < 65536) out.push(head(0xdc, n, 2));
      else out.push(head(0xdd, n, 4));
      for (const item of value) write(item, out, depth + 1);
    } else throw new Error("cannot encode " + typeof value + " canonically");
  }

  function decode(bytes) {
    let at = 0;
    const need = n => { if (at + n > bytes.length) throw new Error("msgpack: truncated"); };
    const uint = size => {
      need(size);
      let v = 0n;
      for (let i = 0; i < size; i++) v = (v << 8n) | BigInt(bytes[at + i]);
      at += size;
      return v;
    };
    const int = size => BigInt.asIntN(size * 8, uint(size));
    const num = v => (v <= BigInt(Number.MAX_SAFE_INTEGER) && v >= BigInt(Number.MIN_SAFE_INTEGER) ? Number(v) : v);
    const str = n => { need(n); const s = utf8Decode.decode(bytes.subarray(at, at + n)); at += n; return s; };
    const bin = n => { need(n); const b = bytes.slice(at, at + n); at += n; return b; };
    const arr = (n, depth) => { const items = []; for (let i = 0; i < n; i++) items.push(read(depth + 1)); return items; };
    function read(depth) {
      if (depth > 64) throw new Error("msgpack: nesting too deep");
      need(1);
      const tag = bytes[at++];
      if (tag < 0x80) return tag;
      if (tag >= 0xe0) return tag - 256;
      if ((tag & 0xe0) === 0xa0) return str(tag & 0x1f);
      if ((tag & 0xf0) === 0x90) return arr(tag & 0x0f, depth);
      switch (tag) {
        case 0xc0: return null;
        case 0xc2: return false;
        case 0xc3: return true;
        case 0xc4: return bin(Number(uint(1)));
        case 0xc5: return bin(Number(uint(2)));
        case 0xc6: return bin(Number(uint(4)));
        case 0xcc: return num(uint(1));
        case 0xcd: return num(uint(2));
        case 0xce: return num(uint(4));
        case 0xcf: return num(uint(8));
        case 0xd0: return num(int(1));
        case 0xd1: return num(int(2));
        case 0xd2: return num(int(4));
        case 0xd3: return num(int(8));
        case 0xd9: return str(Number(uint(1)));
        case 0xda: return str(Number(uint(2)));
        case 0xdb: return str(Number(uint(4)));
        case 0xdc: return arr(Number(uint(2)), depth);
        case 0xdd: return arr(Number(uint(4)), depth);
        default: throw new Error("msgpack: type 0x" + tag.toString(16) + " is not canonical here");
      }
    }
    const value = read(0);
    if (at !== bytes.length) throw new Error("msgpack: trailing bytes");
    return value;
  }

  return { encode, decode };
})();
