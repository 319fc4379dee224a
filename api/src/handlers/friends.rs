//! Friend requests: send or accept, remove (unfriend, cancel, decline), list.

use hyper::{Response, StatusCode};
use tidings_storage::UserId;

use super::{committed, committed_empty, Call};
use crate::error::ApiError;
use crate::response::{self, Body};
use crate::state::App;

pub(super) async fn request(app: &App, call: &Call) -> Result<Response<Body>, ApiError> {
    let target: UserId = call.id(0, "user")?;
    let c = app
        .timed(
            "request_friend",
            app.store().request_friend(&call.write()?, target),
        )
        .await?;
    Ok(committed(app, &c, StatusCode::OK))
}

pub(super) async fn remove(app: &App, call: &Call) -> Result<Response<Body>, ApiError> {
    let target: UserId = call.id(0, "user")?;
    let c = app
        .timed(
            "remove_friend",
            app.store().remove_friend(&call.write()?, target),
        )
        .await?;
    Ok(committed_empty(app, &c))
}

pub(super) async fn list(app: &App, call: &Call) -> Result<Response<Body>, ApiError> {
    let lists = app
        .timed("list_friends", app.store().list_friends(call.me()?))
        .await?;
    Ok(response::json(StatusCode::OK, &lists))
}
