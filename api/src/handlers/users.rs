//! `GET /v1/me`, `GET /v1/users/{id}`, `GET /v1/users?username=`.

use hyper::{Response, StatusCode};
use tidings_storage::UserId;

use super::Call;
use crate::error::ApiError;
use crate::response::{self, Body};
use crate::state::App;

pub(super) async fn me(app: &App, call: &Call) -> Result<Response<Body>, ApiError> {
    let user = app
        .timed("get_user", app.store().get_user(call.me()?))
        .await?;
    Ok(response::json(StatusCode::OK, &user))
}

pub(super) async fn get(app: &App, call: &Call) -> Result<Response<Body>, ApiError> {
    let id: UserId = call.id(0, "user")?;
    let user = app.timed("get_user", app.store().get_user(id)).await?;
    Ok(response::json(StatusCode::OK, &user))
}

pub(super) async fn find(app: &App, call: &Call) -> Result<Response<Body>, ApiError> {
    let Some(username) = call.query.get("username") else {
        return Err(ApiError::BadRequest(
            "the username query parameter is required".into(),
        ));
    };
    let user = app
        .timed("find_user", app.store().find_user(username))
        .await?;
    Ok(response::json(StatusCode::OK, &user))
}
