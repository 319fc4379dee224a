//! Chat messages: post, page, edit, delete.

use hyper::{Response, StatusCode};
use serde::Deserialize;
use tidings_storage::ChatId;

use super::{committed, committed_empty, Call};
use crate::error::ApiError;
use crate::request::json;
use crate::response::{self, Body};
use crate::state::App;

#[derive(Deserialize)]
struct MessageBody {
    body: String,
}

pub(super) async fn post(app: &App, call: &Call) -> Result<Response<Body>, ApiError> {
    let chat: ChatId = call.id(0, "chat")?;
    let req: MessageBody = json(&call.body)?;
    let c = app
        .timed(
            "post_message",
            app.store().post_message(&call.write()?, chat, &req.body),
        )
        .await?;
    Ok(committed(app, &c, StatusCode::CREATED))
}

pub(super) async fn list(app: &App, call: &Call) -> Result<Response<Body>, ApiError> {
    let chat: ChatId = call.id(0, "chat")?;
    let before = call.query.uint("before_seq")?;
    let page = app
        .timed(
            "list_messages",
            app.store()
                .list_messages(call.me()?, chat, before, call.query.limit()?),
        )
        .await?;
    Ok(response::json(StatusCode::OK, &page))
}

pub(super) async fn edit(app: &App, call: &Call) -> Result<Response<Body>, ApiError> {
    let chat: ChatId = call.id(0, "chat")?;
    let seq: u64 = call.id(1, "message")?;
    let req: MessageBody = json(&call.body)?;
    let c = app
        .timed(
            "edit_message",
            app.store()
                .edit_message(&call.write()?, chat, seq, &req.body),
        )
        .await?;
    Ok(committed(app, &c, StatusCode::OK))
}

pub(super) async fn delete(app: &App, call: &Call) -> Result<Response<Body>, ApiError> {
    let chat: ChatId = call.id(0, "chat")?;
    let seq: u64 = call.id(1, "message")?;
    let c = app
        .timed(
            "delete_message",
            app.store().delete_message(&call.write()?, chat, seq),
        )
        .await?;
    Ok(committed_empty(app, &c))
}
