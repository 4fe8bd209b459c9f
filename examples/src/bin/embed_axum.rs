// Run: cargo run -p chanbind-examples --bin embed_axum -- --listen 127.0.0.1:8080
//! chanbind inside an axum application that has its own routes and its own login.
//!
//! The application serves `/` (a page), `POST /login` (`{"username": "alice"}`: sets the
//! `session` cookie and returns the same session as a bearer token) and `POST /tasks`
//! (`{"title": "..."}`: its own handler writes the row through chanbind's typed API, as the
//! signed-in user, so every subscriber is pushed the new task), and mounts chanbind
//! under `/realtime`: `ws://ADDR/realtime/` is the WebSocket, `http://ADDR/realtime/api/`
//! the HTTP API. Its own middleware turns the session cookie or bearer into a chanbind
//! `User` in the request's extensions, which `ExtensionAuthenticator` hands to chanbind: the
//! application's login decides who chanbind sees, and the demo's permission policy applies
//! to them (a user sees and writes only their own tasks). On Ctrl-C or SIGTERM, axum stops
//! once chanbind has closed its WebSockets with 1001.
//!
//! ```text
//! curl -c jar -d '{"username":"alice"}' -H 'content-type: application/json' http://127.0.0.1:8080/login
//! curl -b jar http://127.0.0.1:8080/realtime/api/todo.Task/
//! curl -H "authorization: Bearer $TOKEN" -d '{"title":"from axum"}' -H 'content-type: application/json' http://127.0.0.1:8080/tasks
//! ```
//!
//! `--database-url postgres://...` (or `DATABASE_URL`) keeps the demo's tables in
//! PostgreSQL; without it they live in memory.

use std::collections::HashMap;
use std::error::Error;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::extract::{Extension, Request, State};
use axum::http::header::{AUTHORIZATION, COOKIE, SET_COOKIE};
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chanbind_engine::app::Ctx;
use chanbind_engine::auth::{ExtensionAuthenticator, User};
use chanbind_engine::binding::{ModelBinding, Registry};
use chanbind_engine::store::{MemoryStore, Store};
use chanbind_engine::Engine;
use chanbind_examples::demo;
use chanbind_examples::serve::{redact, stop_signal, Adapter, Pg};
use clap::Parser;
use serde_json::{json, Value};

/// An axum application with chanbind mounted under `/realtime`.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// PostgreSQL URL; without one the demo's tables live in memory.
    #[arg(long, env = "DATABASE_URL")]
    database_url: Option<String>,
}

/// The application's session cookie.
const SESSION_COOKIE: &str = "session";

/// What the application shares between its handlers.
#[derive(Clone)]
struct App {
    /// Session token to signed-in user; a real application keeps them in its database.
    sessions: Arc<Mutex<HashMap<String, User>>>,
    users: Arc<ModelBinding>,
    store: Arc<dyn Store>,
    engine: Engine,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    chanbind_examples::logging::init(Default::default());
    let args = Args::parse();
    let registry = demo::registry_with(demo::Policy::Enforced)?;
    let store: Arc<dyn Store> = match &args.database_url {
        Some(url) => {
            let pg = Pg::connect(Adapter::Async, url).await?;
            pg.migrate(&registry).await?;
            tracing::info!(database = %redact(url), "store ready");
            pg.store()
        }
        None => Arc::new(MemoryStore::new(&registry)),
    };
    demo::seed(&registry, store.as_ref()).await?;
    let users = users_of(&registry)?;

    // chanbind sees whoever the application's middleware put in the request's extensions.
    let engine = Engine::builder(registry, Arc::clone(&store))
        .authenticator(ExtensionAuthenticator::new())
        .allow_anonymous(true)
        .start()
        .await?;
    let realtime = chanbind_async::service(engine.clone(), Default::default());

    let app = App {
        sessions: Arc::default(),
        users,
        store,
        engine,
    };
    let router = Router::new()
        .route("/", get(page))
        .route("/login", post(login))
        .route("/tasks", post(create_task))
        .nest_service("/realtime", realtime.clone())
        .layer(middleware::from_fn_with_state(app.clone(), signed_in))
        .with_state(app);

    let listener = tokio::net::TcpListener::bind(args.listen).await?;
    let addr = listener.local_addr()?;
    tracing::info!("listening on http://{addr}/ (the application), ws://{addr}/realtime/ (WebSocket) and http://{addr}/realtime/api/ (HTTP API)");
    let shutdown = realtime.shutdown_on(async {
        match stop_signal().await {
            Ok(signal) => tracing::info!(signal, "shutting down"),
            Err(e) => tracing::error!(error = %e, "cannot wait for a signal; shutting down"),
        }
    });
    axum::serve(
        listener,
        router.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await?;
    Ok(())
}

fn users_of(registry: &Registry) -> Result<Arc<ModelBinding>, Box<dyn Error>> {
    Ok(Arc::clone(
        registry
            .get("auth.User")
            .ok_or("the demo has no auth.User")?,
    ))
}

/// The application's own page.
async fn page() -> Html<&'static str> {
    Html(
        "<!doctype html><title>embed_axum</title>\
         <p>An axum application. <code>POST /login</code> with <code>{\"username\": \"alice\"}</code> \
         signs in; chanbind answers at <code>ws://…/realtime/</code> and <code>/realtime/api/</code>.</p>",
    )
}

/// Signs a user in by name (a real application checks a password first): a new session,
/// as the `session` cookie and as a bearer token.
async fn login(State(app): State<App>, Json(body): Json<Value>) -> Response {
    let Some(name) = body["username"].as_str().filter(|n| !n.is_empty()) else {
        return (StatusCode::BAD_REQUEST, "username is required").into_response();
    };
    let user = match demo::ensure_user(&app.users, app.store.as_ref(), name).await {
        Ok(user) => user,
        Err(e) => {
            tracing::warn!(error = %e, "login failed");
            return (StatusCode::SERVICE_UNAVAILABLE, "cannot sign in now").into_response();
        }
    };
    let token = uuid::Uuid::new_v4().simple().to_string();
    let body = json!({"token": token, "user": {"id": user.id, "name": user.name}});
    app.sessions
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(token.clone(), user);
    let cookie = format!("{SESSION_COOKIE}={token}; Path=/; HttpOnly; SameSite=Lax");
    ([(SET_COOKIE, cookie)], Json(body)).into_response()
}

/// The application's own handler writing a row: through the typed API, as the signed-in
/// user, with the binding's validation and permissions, pushed to every subscriber.
async fn create_task(
    State(app): State<App>,
    user: Option<Extension<User>>,
    Json(body): Json<Value>,
) -> Response {
    let Some(Extension(user)) = user else {
        return (StatusCode::UNAUTHORIZED, "sign in first").into_response();
    };
    let title = body.get("title").cloned().unwrap_or(Value::Null);
    let tasks = app.engine.model("todo.Task");
    match tasks
        .create(&Ctx::user(user), json!({"title": title}))
        .await
    {
        Ok(task) => (StatusCode::CREATED, Json(Value::Object(task))).into_response(),
        // The HTTP API's own answer: its status and error object.
        Err(e) => e.to_response().map(axum::body::Body::from),
    }
}

/// The application's middleware: the session of the bearer token or the cookie, if any,
/// becomes the request's `User` for the routes behind it, chanbind's included.
async fn signed_in(State(app): State<App>, mut request: Request, next: Next) -> Response {
    let user = session_token(request.headers()).and_then(|token| {
        let sessions = app.sessions.lock().unwrap_or_else(|p| p.into_inner());
        sessions.get(token).cloned()
    });
    if let Some(user) = user {
        request.extensions_mut().insert(user);
    }
    next.run(request).await
}

/// `Authorization: Bearer <token>`, else the `session` cookie.
fn session_token(headers: &HeaderMap) -> Option<&str> {
    let bearer = headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    bearer.or_else(|| {
        headers
            .get_all(COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .find_map(|pair| pair.trim().strip_prefix(SESSION_COOKIE)?.strip_prefix('='))
    })
}
