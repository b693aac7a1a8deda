//! Extractors whose rejections are problem details, not axum's plain text.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use serde::de::DeserializeOwned;
use uuid::Uuid;

use super::ApiError;
use crate::domain::{Surface, ValidationErrors};

/// A JSON body: 415 unless it is JSON, 413 over the body limit, 400 when it
/// does not parse, 422 naming the field when a value has the wrong type.
/// An empty body counts as `{}`, so optional bodies may be left out.
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        let is_json = request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(is_json_media_type);
        let has_content_type = request.headers().contains_key(header::CONTENT_TYPE);
        let bytes = Bytes::from_request(request, state)
            .await
            .map_err(|rejection| {
                if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    ApiError::PayloadTooLarge
                } else {
                    ApiError::BadRequest(rejection.body_text())
                }
            })?;
        if bytes.is_empty() && !has_content_type {
            return parse(b"{}").map(ApiJson);
        }
        if !is_json {
            return Err(ApiError::UnsupportedMediaType);
        }
        parse(&bytes).map(ApiJson)
    }
}

/// `application/json`, or any `application/…+json`, with any parameters.
fn is_json_media_type(content_type: &str) -> bool {
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    // serde would also accept an array for a struct; a body is an object.
    if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(ApiError::BadRequest(
            "The body must be a JSON object.".into(),
        ));
    }
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
        let path = error.path().to_string();
        let inner = error.into_inner();
        match inner.classify() {
            serde_json::error::Category::Data if path != "." => {
                ApiError::Validation(ValidationErrors::single(path, without_position(&inner)))
            }
            _ => ApiError::BadRequest(format!("The body is not valid JSON: {inner}")),
        }
    })?;
    deserializer
        .end()
        .map_err(|e| ApiError::BadRequest(format!("The body is not valid JSON: {e}")))?;
    Ok(value)
}

/// serde's messages end with "at line 1 column 17", which means nothing to a
/// client that is told the field name instead.
fn without_position(error: &serde_json::Error) -> String {
    let message = error.to_string();
    match message.rfind(" at line ") {
        Some(i) => message[..i].to_string(),
        None => message,
    }
}

/// A session or step id from the path. A malformed id names no session, so
/// it is a 404 like any unknown id.
pub fn parse_id(raw: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(raw).map_err(|_| ApiError::NotFound("No session has this id.".into()))
}

/// The surface an action comes through: the `Casebook-Via` header that
/// Casebook's own pages send, `api` otherwise.
pub struct Via(pub Surface);

pub const VIA_HEADER: &str = "casebook-via";

impl<S: Send + Sync> FromRequestParts<S> for Via {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let Some(value) = parts.headers.get(VIA_HEADER) else {
            return Ok(Via(Surface::Api));
        };
        value
            .to_str()
            .ok()
            .and_then(Surface::parse_client)
            .map(Via)
            .ok_or_else(|| {
                let names: Vec<&str> = Surface::CLIENT.map(Surface::as_str).into();
                ApiError::BadRequest(format!(
                    "The Casebook-Via header must be one of {}.",
                    names.join(", ")
                ))
            })
    }
}

#[cfg(test)]
mod properties {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        #[test]
        fn an_id_is_found_exactly_when_it_is_a_uuid(raw in prop_oneof![
            any::<String>(),
            any::<u128>().prop_map(|n| Uuid::from_u128(n).to_string()),
            any::<u128>().prop_map(|n| Uuid::from_u128(n).simple().to_string()),
        ]) {
            match parse_id(&raw) {
                Ok(id) => prop_assert_eq!(Some(id), Uuid::parse_str(&raw).ok()),
                Err(error) => {
                    prop_assert!(Uuid::parse_str(&raw).is_err());
                    prop_assert!(matches!(error, ApiError::NotFound(_)));
                }
            }
        }

        #[test]
        fn a_canonical_id_parses_to_itself(n in any::<u128>()) {
            let id = Uuid::from_u128(n);
            prop_assert_eq!(parse_id(&id.to_string()).ok(), Some(id));
        }
    }
}
