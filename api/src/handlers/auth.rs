//! Register and login. Passwords are hashed with argon2 off the async
//! threads; tokens are signed, so later requests need no session lookup.

use std::sync::OnceLock;

use hyper::{Response, StatusCode};
use serde::{Deserialize, Serialize};
use tidings_storage::{NewUser, PasswordHash, User};
use tidings_wire::token::now_unix_s;

use super::Call;
use crate::error::ApiError;
use crate::request::json;
use crate::response::{self, Body};
use crate::state::App;

#[derive(Deserialize)]
struct Register {
    username: String,
    password: String,
    #[serde(default)]
    display_name: Option<String>,
}

#[derive(Deserialize)]
struct Login {
    username: String,
    password: String,
}

#[derive(Serialize)]
struct Session<'a> {
    user: &'a User,
    token: String,
}

fn session(app: &App, user: &User, status: StatusCode) -> Response<Body> {
    let expires = now_unix_s() + app.config().token_ttl.as_secs();
    let token = app.config().token_key.issue(user.id, expires);
    response::json(status, &Session { user, token })
}

async fn hash_off_thread(password: String, app: &App) -> Result<PasswordHash, ApiError> {
    let cost = app.config().hash_cost;
    tokio::task::spawn_blocking(move || PasswordHash::hash(&password, cost))
        .await
        .map_err(|e| ApiError::Unavailable(format!("hashing failed: {e}")))
}

pub(super) async fn register(app: &App, call: &Call) -> Result<Response<Body>, ApiError> {
    app.inner.rate.addresses.charge(&call.peer)?;
    let req: Register = json(&call.body)?;
    let limits = &app.inner.limits;
    limits.username(&req.username)?;
    limits.password(&req.password)?;
    if let Some(name) = &req.display_name {
        limits.display_name(name)?;
    }
    let password = hash_off_thread(req.password, app).await?;
    let user = app
        .timed(
            "create_user",
            app.store().create_user(NewUser {
                username: req.username,
                display_name: req.display_name,
                password,
            }),
        )
        .await?;
    Ok(session(app, &user, StatusCode::CREATED))
}

/// A hash to verify against when the username is unknown, so both failures
/// take the same time and do not reveal which usernames exist.
fn decoy_hash() -> &'static PasswordHash {
    static DECOY: OnceLock<PasswordHash> = OnceLock::new();
    DECOY.get_or_init(|| PasswordHash::hash("decoy password", Default::default()))
}

pub(super) async fn login(app: &App, call: &Call) -> Result<Response<Body>, ApiError> {
    app.inner.rate.addresses.charge(&call.peer)?;
    let req: Login = json(&call.body)?;
    let found = match app
        .timed(
            "user_credentials",
            app.store().user_credentials(&req.username),
        )
        .await
    {
        Ok(found) => Some(found),
        Err(tidings_storage::StoreError::NotFound(_)) => None,
        Err(e) => return Err(e.into()),
    };
    let (user, hash) = match found {
        Some((user, hash)) => (Some(user), hash),
        None => (None, decoy_hash().clone()),
    };
    let password = req.password;
    let ok = tokio::task::spawn_blocking(move || hash.verify(&password))
        .await
        .map_err(|e| ApiError::Unavailable(format!("verifying failed: {e}")))?;
    match user {
        Some(user) if ok => Ok(session(app, &user, StatusCode::OK)),
        _ => Err(ApiError::Unauthorized("wrong username or password".into())),
    }
}
