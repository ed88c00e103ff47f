"""The service's pure-ASGI middleware, one per module, each named for its one job.

Pure ASGI rather than `BaseHTTPMiddleware` because each runs on every request and the
latter adds a task and a stream copy per call. `service.app` adds them in this order,
outermost first: security headers, request id, access log, memory release, limits.
"""
