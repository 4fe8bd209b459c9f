//! `chanbind_async::service` mounted in a host over real sockets on 127.0.0.1: a plain hyper
//! server that hands it every request, and an axum router that nests it under `/realtime`,
//! with the HTTP API, WebSocket pushes, the 1009 close, the host's shutdown (1001), and the
//! host's middleware deciding the user (`ExtensionAuthenticator`).

#[path = "service/axum_host.rs"]
mod axum_host;
#[path = "service/hyper_host.rs"]
mod hyper_host;
#[path = "service/support.rs"]
mod support;
