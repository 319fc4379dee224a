//! Posts and the feed.

use hyper::{Response, StatusCode};
use serde::Deserialize;
use tidings_storage::store::Cursor;
use tidings_storage::{PostId, UserId};

use super::{committed, committed_empty, Call};
use crate::error::ApiError;
use crate::request::json;
use crate::response::{self, Body};
use crate::state::App;

#[derive(Deserialize)]
struct PostBody {
    body: String,
}

pub(super) async fn create(app: &App, call: &Call) -> Result<Response<Body>, ApiError> {
    let req: PostBody = json(&call.body)?;
    let c = app
        .timed(
            "create_post",
            app.store().create_post(&call.write()?, &req.body),
        )
        .await?;
    Ok(committed(app, &c, StatusCode::CREATED))
}

pub(super) async fn list(app: &App, call: &Call) -> Result<Response<Body>, ApiError> {
    let author: UserId = call.id(0, "user")?;
    let before = call.query.uint("before_seq")?;
    let page = app
        .timed(
            "list_posts",
            app.store()
                .list_posts(call.me()?, author, before, call.query.limit()?),
        )
        .await?;
    Ok(response::json(StatusCode::OK, &page))
}

pub(super) async fn delete(app: &App, call: &Call) -> Result<Response<Body>, ApiError> {
    let post: PostId = call.id(0, "post")?;
    let c = app
        .timed("delete_post", app.store().delete_post(&call.write()?, post))
        .await?;
    Ok(committed_empty(app, &c))
}

pub(super) async fn feed(app: &App, call: &Call) -> Result<Response<Body>, ApiError> {
    let page = Cursor {
        limit: call.query.limit()?,
        cursor: call.query.get("cursor").map(str::to_owned),
    };
    let feed = app
        .timed("feed", app.store().feed(call.me()?, page))
        .await?;
    Ok(response::json(StatusCode::OK, &feed))
}
