//! The baseline for `scripts/load-test.sh`: the smallest axum service, on the same runtime
//! settings as geoavail, so the load test can say how close geoavail comes to it.
//!
//!     cargo run --release --example hello-world-server -- 127.0.0.1:8090

use axum::Router;
use axum::routing::get;

fn main() -> std::io::Result<()> {
    let address = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:8090".into());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(&address).await?;
        let router = Router::new().route("/", get(|| async { "Hello, World!" }));
        axum::serve(listener, router).await
    })
}
