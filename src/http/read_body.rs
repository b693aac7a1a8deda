//! Every request's body is read before its answer is sent, so the
//! connection it came on stays usable.
//!
//! hyper can only reuse a keep-alive connection once the request's body has
//! been read to its end. A route that answers without reading it (a POST
//! that takes no body, an early 401, 403 or 404) left the body unread; if it
//! had not all arrived yet (clients commonly send headers and body in two
//! writes), hyper closed the connection after answering, without saying so,
//! and the client's next request on it failed. Reading the body here, once
//! for every route, up to the body limit, makes that impossible; a body past
//! the limit is refused with 413 and `Connection: close`, so the client
//! knows not to reuse the connection.

use axum::body::{Body, HttpBody};
use axum::extract::Request;
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http_body_util::{BodyExt, LengthLimitError, Limited};

use super::{ApiError, BODY_LIMIT};

pub async fn read_body_first(request: Request, next: Next) -> Response {
    let declared = request.body().size_hint().exact();
    if declared == Some(0) {
        return next.run(request).await;
    }
    if declared.is_some_and(|length| length > BODY_LIMIT as u64) {
        return closing(ApiError::PayloadTooLarge.into_response());
    }
    let (parts, body) = request.into_parts();
    match Limited::new(body, BODY_LIMIT).collect().await {
        Ok(collected) => {
            let body = Body::from(collected.to_bytes());
            next.run(Request::from_parts(parts, body)).await
        }
        // Past the limit (a chunked body), or the body ended early or
        // malformed: either way the rest of it cannot be read.
        Err(error) if error.is::<LengthLimitError>() => {
            closing(ApiError::PayloadTooLarge.into_response())
        }
        Err(error) => closing(
            ApiError::BadRequest(format!("The request's body could not be read: {error}."))
                .into_response(),
        ),
    }
}

/// `response`, telling the client this connection ends with it.
fn closing(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}
