#!/usr/bin/env python3
"""whoami: gets a Tinker JWT through the C library, from Python's ctypes, and
prints its runway.

    TINKER_API_KEY=tml-... python3 whoami.py [BASE_URL]

The library is found as TINKER_AUTH_LIB names it (a path to
libtinker_auth.so), else by the system's search (ctypes.util.find_library,
then libtinker_auth.so.0 through LD_LIBRARY_PATH and the loader's cache).
The base URL defaults to TINKER_BASE_URL; the credential comes from
TINKER_API_KEY (or TINKER_CREDENTIAL_CMD). The token is a secret: only its
length and runway (from its `exp` claim, by this machine's clock) are shown.
"""

import base64
import ctypes
import ctypes.util
import json
import os
import sys
import time

ERROR_MESSAGE_LEN = 256
OK = 0


class Error(ctypes.Structure):
    _fields_ = [("code", ctypes.c_int32), ("message", ctypes.c_char * ERROR_MESSAGE_LEN)]


class Options(ctypes.Structure):
    # Mirrors tinker_auth_options in tinker_auth.h; always start from
    # tinker_auth_options_default(), which sets struct_size.
    _fields_ = [
        ("struct_size", ctypes.c_uint32),
        ("background_refresh", ctypes.c_uint32),
        ("refresh_before_expiry_ms", ctypes.c_uint64),
        ("refresh_on_demand_within_ms", ctypes.c_uint64),
        ("retry_delay_ms", ctypes.c_uint64),
        ("fetch_timeout_ms", ctypes.c_uint64),
        ("shared_cache_dir", ctypes.c_char_p),
    ]


def load():
    path = os.environ.get("TINKER_AUTH_LIB") or ctypes.util.find_library("tinker_auth")
    lib = ctypes.CDLL(path or "libtinker_auth.so.0")
    lib.tinker_auth_options_default.restype = Options
    lib.tinker_auth_options_default.argtypes = []
    lib.tinker_auth_new_with_options.restype = ctypes.c_uint64
    lib.tinker_auth_new_with_options.argtypes = [
        ctypes.c_char_p,
        ctypes.c_char_p,
        ctypes.POINTER(Options),
        ctypes.POINTER(Error),
    ]
    lib.tinker_auth_get_token.restype = ctypes.c_int32
    lib.tinker_auth_get_token.argtypes = [
        ctypes.c_uint64,
        ctypes.c_char_p,
        ctypes.c_size_t,
        ctypes.POINTER(ctypes.c_size_t),
    ]
    lib.tinker_auth_last_error.restype = ctypes.c_int32
    lib.tinker_auth_last_error.argtypes = [ctypes.c_char_p, ctypes.c_size_t]
    lib.tinker_auth_free.restype = ctypes.c_int32
    lib.tinker_auth_free.argtypes = [ctypes.c_uint64]
    return lib


def jwt_exp(token):
    """The `exp` claim of a JWT, decoded (not verified), or None."""
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        exp = claims.get("exp")
        return float(exp) if isinstance(exp, (int, float)) else None
    except (IndexError, ValueError):
        return None


def main():
    lib = load()
    base_url = sys.argv[1].encode() if len(sys.argv) > 1 else None  # None: TINKER_BASE_URL
    options = lib.tinker_auth_options_default()
    options.background_refresh = 0  # one token, then exit
    err = Error()
    # api_key None: TINKER_API_KEY, else TINKER_CREDENTIAL_CMD.
    handle = lib.tinker_auth_new_with_options(base_url, None, ctypes.byref(options), ctypes.byref(err))
    if handle == 0:
        print(f"whoami: {err.message.decode(errors='replace')} (code {err.code})", file=sys.stderr)
        return 1
    try:
        buf = ctypes.create_string_buffer(8192)
        length = ctypes.c_size_t(0)
        rc = lib.tinker_auth_get_token(handle, buf, len(buf), ctypes.byref(length))
        if rc != OK:
            message = ctypes.create_string_buffer(ERROR_MESSAGE_LEN)
            lib.tinker_auth_last_error(message, len(message))
            print(f"whoami: {message.value.decode(errors='replace')} (code {rc})", file=sys.stderr)
            return 1
        token = buf.value.decode()
        print(f"token: {length.value} bytes (not shown: it is a secret)")
        exp = jwt_exp(token)
        if exp is None:
            print("runway: unknown (no readable exp claim)")
        else:
            print(f"expires: {exp:.0f} (Unix seconds)")
            print(f"runway: {max(exp - time.time(), 0):.0f} s left (by this machine's clock)")
        return 0
    finally:
        lib.tinker_auth_free(handle)


if __name__ == "__main__":
    sys.exit(main())
