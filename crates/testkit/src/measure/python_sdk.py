# A replica of the Tinker Python SDK's JwtAuthProvider.get_token fast path
# (the proactive version: the cached JWT's runway checked on every call, the
# lock taken only to refresh, double-checked). Assumed, as the SDK's change
# describes it: the JWT's `exp` is decoded from the cached token on every call
# (an unparseable token triggers a refetch, so nothing caches the decoded
# value); the method is a coroutine awaited by the caller. Prints the median
# nanoseconds per awaited call over interleaved samples.
import asyncio
import base64
import json
import statistics
import sys
import time

_REFRESH_RUNWAY_SECS = 60


def _jwt_exp(token):
    try:
        payload = token.split(".")[1]
        payload += "=" * (-len(payload) % 4)
        return float(json.loads(base64.urlsafe_b64decode(payload))["exp"])
    except Exception:
        return None


class JwtAuthProvider:
    def __init__(self, token):
        self._token = token
        self._refresh_lock = asyncio.Lock()

    def _fresh(self):
        exp = _jwt_exp(self._token)
        return exp is not None and exp - time.time() > _REFRESH_RUNWAY_SECS

    async def _fetch(self):
        raise RuntimeError("not reached: the token is fresh")

    async def get_token(self):
        if self._fresh():
            return self._token
        async with self._refresh_lock:
            if not self._fresh():
                self._token = await self._fetch()
            return self._token


def _b64(obj):
    raw = json.dumps(obj, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


async def _main(iters, samples):
    now = int(time.time())
    header = _b64({"alg": "HS256", "typ": "JWT"})
    claims = _b64({"sub": "user-1", "iat": now, "exp": now + 3600})
    provider = JwtAuthProvider(f"{header}.{claims}.{'s' * 43}")
    assert await provider.get_token()
    per_call = []
    for _ in range(samples):
        start = time.perf_counter_ns()
        for _ in range(iters):
            await provider.get_token()
        per_call.append((time.perf_counter_ns() - start) / iters)
    print(f"{statistics.median(per_call):.1f}")


if __name__ == "__main__":
    asyncio.run(_main(int(sys.argv[1]), int(sys.argv[2])))
