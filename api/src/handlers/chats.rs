//! Chats and membership.

use hyper::{Response, StatusCode};
use serde::Deserialize;
use tidings_storage::store::Cursor;
use tidings_storage::{ChatId, NewChat, UserId};

use super::{committed, committed_empty, Call};
use crate::error::ApiError;
use crate::request::json;
use crate::response::{self, Body};
use crate::state::App;

#[derive(Deserialize)]
struct CreateChat {
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    member_ids: Vec<UserId>,
}

#[derive(Deserialize)]
struct AddMember {
    user_id: UserId,
}

pub(super) async fn create(app: &App, call: &Call) -> Result<Response<Body>, ApiError> {
    let req: CreateChat = json(&call.body)?;
    let new = NewChat {
        title: req.title,
        member_ids: req.member_ids,
    };
    let c = app
        .timed("create_chat", app.store().create_chat(&call.write()?, new))
        .await?;
    Ok(committed(app, &c, StatusCode::CREATED))
}

pub(super) async fn list(app: &App, call: &Call) -> Result<Response<Body>, ApiError> {
    let page = Cursor {
        limit: call.query.limit()?,
        cursor: call.query.get("cursor").map(str::to_owned),
    };
    let chats = app
        .timed("list_chats", app.store().list_chats(call.me()?, page))
        .await?;
    Ok(response::json(StatusCode::OK, &chats))
}

pub(super) async fn get(app: &App, call: &Call) -> Result<Response<Body>, ApiError> {
    let chat: ChatId = call.id(0, "chat")?;
    let found = app
        .timed("get_chat", app.store().get_chat(call.me()?, chat))
        .await?;
    Ok(response::json(StatusCode::OK, &found))
}

pub(super) async fn add_member(app: &App, call: &Call) -> Result<Response<Body>, ApiError> {
    let chat: ChatId = call.id(0, "chat")?;
    let req: AddMember = json(&call.body)?;
    let c = app
        .timed(
            "add_member",
            app.store().add_member(&call.write()?, chat, req.user_id),
        )
        .await?;
    Ok(committed_empty(app, &c))
}

pub(super) async fn remove_member(app: &App, call: &Call) -> Result<Response<Body>, ApiError> {
    let chat: ChatId = call.id(0, "chat")?;
    let user: UserId = call.id(1, "user")?;
    let c = app
        .timed(
            "remove_member",
            app.store().remove_member(&call.write()?, chat, user),
        )
        .await?;
    Ok(committed_empty(app, &c))
}
