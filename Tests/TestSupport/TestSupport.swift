// Shared test helpers: the moto_server harness (MotoServer.swift), the fault-injection proxy and a tiny
// canned-response HTTP server (LocalHTTP.swift), both driven by local_http.py.
