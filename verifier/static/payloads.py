"""Static decoding of self-extracting wrappers: ``exec(lzma.decompress(base64.b85decode("...")))``.

The payload expression is *evaluated by us* over a whitelist of pure decoding functions
(base64 family, lzma, zlib, gzip, bz2, brotli), never by ``exec``, with a bound on the
decoded size against decompression bombs.
"""

from __future__ import annotations

import ast
import base64
import binascii
import bz2
import gzip
import lzma
import zlib
from typing import Any

from verifier.static.collector import dotted_name, safe_unparse
from verifier.static.facts import CodeUnit

MAX_DECODED_BYTES = 64 * 1024 * 1024  # refuse decompression bombs

_DECODERS = {
    "b85decode": base64.b85decode, "b64decode": base64.b64decode, "a85decode": base64.a85decode,
    "b32decode": base64.b32decode, "b16decode": base64.b16decode, "decodebytes": base64.decodebytes,
    "urlsafe_b64decode": base64.urlsafe_b64decode, "unhexlify": binascii.unhexlify,
    "a2b_base64": binascii.a2b_base64,
}


def _bounded(fn):
    def run(data: bytes) -> bytes:
        out = fn(data)
        if len(out) > MAX_DECODED_BYTES:
            raise ValueError("decoded payload too large")
        return out
    return run


def _lzma(data: bytes) -> bytes:
    d = lzma.LZMADecompressor()
    out = d.decompress(data, max_length=MAX_DECODED_BYTES + 1)
    if len(out) > MAX_DECODED_BYTES:
        raise ValueError("decoded payload too large")
    return out


def _zlib(data: bytes) -> bytes:
    d = zlib.decompressobj(47)  # zlib or gzip header, auto-detected
    out = d.decompress(data, MAX_DECODED_BYTES + 1)
    if len(out) > MAX_DECODED_BYTES:
        raise ValueError("decoded payload too large")
    return out


def _brotli(data: bytes) -> bytes:
    import brotli

    return _bounded(brotli.decompress)(data)


_DECOMPRESSORS = {"lzma": _lzma, "zlib": _zlib, "gzip": _bounded(gzip.decompress), "bz2": _bounded(bz2.decompress),
                  "brotli": _brotli}


class _NotStatic(Exception):
    pass


def _eval_payload(node: ast.AST, u: CodeUnit, consts: dict[str, ast.AST], chain: list[str], depth: int = 0) -> Any:
    if depth > 12:
        raise _NotStatic("expression too deep")
    if isinstance(node, ast.Constant) and isinstance(node.value, (str, bytes)):
        return node.value
    if isinstance(node, ast.Name) and node.id in consts:
        return _eval_payload(consts[node.id], u, consts, chain, depth + 1)
    if isinstance(node, ast.Call):
        fname = dotted_name(node.func, u.aliases) or ""
        last = fname.rsplit(".", 1)[-1]
        if last in ("compile",) and node.args:
            return _eval_payload(node.args[0], u, consts, chain, depth + 1)
        if isinstance(node.func, ast.Attribute) and node.func.attr in ("decode", "encode") and not node.args[1:]:
            inner = _eval_payload(node.func.value, u, consts, chain, depth + 1)
            if node.func.attr == "decode":
                return inner.decode("utf-8") if isinstance(inner, bytes) else inner
            return inner.encode("utf-8") if isinstance(inner, str) else inner
        if not node.args:
            raise _NotStatic(f"call {fname} without arguments")
        arg = _eval_payload(node.args[0], u, consts, chain, depth + 1)
        data = arg.encode("latin-1") if isinstance(arg, str) else arg
        if last in _DECODERS:
            chain.append(last)
            return _DECODERS[last](data)
        if last == "decompress":
            mod = fname.rsplit(".", 1)[0] if "." in fname else ""
            mod = mod.split(".")[-1]
            codecs = [mod] if mod in _DECOMPRESSORS else list(_DECOMPRESSORS)
            for codec in codecs:
                try:
                    out = _DECOMPRESSORS[codec](data)
                except ImportError:  # an optional third-party codec (brotli, zstandard) not installed here
                    continue
                except Exception:  # noqa: BLE001 - try the next codec
                    continue
                chain.append(f"{codec}.decompress")
                return out
            raise _NotStatic(f"{fname}: no known codec decodes the payload")
        raise _NotStatic(f"{fname} is not a known pure decoder")
    raise _NotStatic(f"{type(node).__name__} is not a literal payload")


def _module_consts(tree: ast.Module) -> dict[str, ast.AST]:
    out: dict[str, ast.AST] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            out[node.targets[0].id] = node.value
    return out


def decode_exec_payloads(u: CodeUnit) -> list[tuple[int, tuple[str, ...], int, str]]:
    """(line, decoding chain, payload characters, decoded text) of every exec'd payload of ``u`` that decodes
    statically; payloads that look encoded but do not decode go to ``u.decode_failures``."""
    assert u.tree is not None
    consts = _module_consts(u.tree)
    out = []
    for node in u.exec_nodes:
        chain: list[str] = []
        try:
            value = _eval_payload(node.args[0], u, consts, chain)
        except _NotStatic as exc:
            if any(k in safe_unparse(node.args[0]) for k in ("decompress", "decode")):
                u.decode_failures.append((node.lineno, str(exc)))
            continue
        except Exception as exc:  # noqa: BLE001 - corrupt payloads are a finding, not a crash
            u.decode_failures.append((node.lineno, f"{type(exc).__name__}: {exc}"))
            continue
        if not chain:
            continue  # exec of a plain literal string: analysed below as well
        text = value.decode("utf-8", errors="replace") if isinstance(value, bytes) else str(value)
        out.append((node.lineno, tuple(chain), len(safe_unparse(node.args[0], limit=10**9)), text))
    return out
