//! The OpenAPI document's parts that no handler annotation states: the
//! session status enum, the problem+json error responses every operation
//! shares, the bearer-token scheme and the links between operations.

use std::borrow::Cow;

use utoipa::openapi::link::LinkBuilder;
use utoipa::openapi::path::{Operation, ParameterBuilder, ParameterIn};
use utoipa::openapi::response::ResponseBuilder;
use utoipa::openapi::schema::{AnyOfBuilder, ObjectBuilder, Type};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{
    ContentBuilder, Info, InfoBuilder, License, OpenApi, Ref, RefOr, Required, Schema,
};
use utoipa::{PartialSchema, ToSchema};

use crate::domain::{Cursor, Status, StepText, Surface};
use crate::http::error::ProblemDetails;
use crate::http::extract::VIA_HEADER;

/// The status of a session, as [`Status::ALL`] spells it.
pub struct StatusSchema;

impl PartialSchema for StatusSchema {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .enum_values(Some(Status::ALL.map(Status::as_str)))
            .into()
    }
}

impl ToSchema for StatusSchema {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("Status")
    }
}

/// A required text as the validation newtypes accept it: no NUL character,
/// and at least one character that is not white space (as `str::trim` sees
/// it). The same pattern is written out on the body fields in bodies.rs.
pub const REQUIRED_TEXT: &str = "^[^\\u0000]*[^\\u0000\\t\\n\\x0B\\f\\r \\u0085\\u00A0\\u1680\\u2000-\\u200A\\u2028\\u2029\\u202F\\u205F\\u3000][^\\u0000]*$";

/// One step of a plan, as [`StepText`] accepts it.
pub struct StepTextSchema;

impl PartialSchema for StepTextSchema {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .max_length(Some(StepText::MAX_CHARS))
            .pattern(Some(REQUIRED_TEXT))
            .into()
    }
}

impl ToSchema for StepTextSchema {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("StepText")
    }
}

/// A list cursor, as [`Cursor::decode`] accepts it.
pub struct CursorSchema;

impl PartialSchema for CursorSchema {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .pattern(Some(Cursor::PATTERN))
            .into()
    }
}

impl ToSchema for CursorSchema {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("Cursor")
    }
}

/// The name of the security scheme: a personal token `cb_…` sent as
/// `Authorization: Bearer <token>`.
const BEARER: &str = "bearer";

/// The operation that serves the document itself; open to everyone.
pub const DOCUMENT_OPERATION: &str = "openapi_document";

/// Adds what every operation shares, derived from what it declares: its
/// security, and the problem+json responses of the checks that run before
/// its handler (authentication, CSRF, the body extractor, the path id).
pub fn complete(openapi: &mut OpenApi) {
    openapi.info = info();
    let components = openapi.components.get_or_insert_with(Default::default);
    components.schemas.insert(
        ProblemDetails::name().into_owned(),
        ProblemDetails::schema(),
    );
    components.add_security_scheme(
        BEARER,
        SecurityScheme::Http(
            HttpBuilder::new()
                .scheme(HttpAuthScheme::Bearer)
                .description(Some("A personal token (cb_…) from the Account page."))
                .build(),
        ),
    );
    for (path, item) in openapi.paths.paths.iter_mut() {
        let takes_surface = !ACTIONS_WITHOUT_SURFACE.contains(&path.as_str());
        let path_has_id = item
            .parameters
            .iter()
            .flatten()
            .any(|p| p.parameter_in == ParameterIn::Path);
        let operations = [
            (&mut item.get, false),
            (&mut item.post, true),
            (&mut item.put, true),
            (&mut item.patch, true),
            (&mut item.delete, true),
        ];
        for (operation, changes_state) in operations {
            if let Some(operation) = operation.as_mut() {
                complete_operation(operation, changes_state, takes_surface, path_has_id);
            }
        }
    }
    add_links(openapi);
}

/// Writes that are not actions on a session (runbooks), so no surface
/// (`Casebook-Via`) is recorded for them.
const ACTIONS_WITHOUT_SURFACE: [&str; 4] = [
    "/api/runbooks",
    "/api/runbooks/{id}",
    "/api/runbooks/{id}/retire",
    "/api/sessions/{id}/runbook",
];

/// Casebook's own name, version, licence and description (utoipa would
/// otherwise describe utoipa-axum: its version, licence and author).
fn info() -> Info {
    let mut name = env!("CARGO_PKG_NAME").to_string();
    if let Some(first) = name.get_mut(..1) {
        first.make_ascii_uppercase();
    }
    InfoBuilder::new()
        .title(format!("{name} API"))
        .version(env!("CARGO_PKG_VERSION"))
        .description(Some(format!(
            "{}: prepare, start, work, complete, reopen, and follow every change live \
             (`GET /api/stream`). Every error is an RFC 9457 problem (application/problem+json).",
            env!("CARGO_PKG_DESCRIPTION")
        )))
        .license(Some(License::new(env!("CARGO_PKG_LICENSE"))))
        .build()
}

fn complete_operation(
    operation: &mut Operation,
    changes_state: bool,
    takes_surface: bool,
    path_has_id: bool,
) {
    if operation.operation_id.as_deref() == Some(DOCUMENT_OPERATION) {
        return;
    }
    allow_empty_filters(operation);
    operation.security = Some(vec![SecurityRequirement::new(BEARER, Vec::<String>::new())]);
    let has_id = path_has_id
        || operation
            .parameters
            .iter()
            .flatten()
            .any(|p| p.parameter_in == ParameterIn::Path);
    let has_body = operation.request_body.is_some();
    let has_query = operation
        .parameters
        .iter()
        .flatten()
        .any(|p| p.parameter_in == ParameterIn::Query);
    let mut add = |status: &str, description: &str| {
        operation
            .responses
            .responses
            .entry(status.to_string())
            .or_insert_with(|| problem_response(description));
    };
    add(
        "401",
        "No token, or one that is unknown, revoked, or whose user is disabled.",
    );
    add("503", "The database is unavailable; try again shortly.");
    if has_id {
        add("404", "No session (or step) has this id.");
    }
    if has_query {
        add(
            "400",
            "Malformed query: a parameter given twice, or one that cannot be read.",
        );
    }
    if changes_state {
        add(
            "400",
            "Malformed request: the body is not a JSON object, or the Casebook-Via header is unknown.",
        );
        add(
            "403",
            "Refused: only the session's owner or an admin can change it, or the request came from another site.",
        );
        if has_body {
            add("413", "The body is larger than the limit.");
            add("415", "The body is not JSON.");
            add("422", "A field has a wrong type or an invalid value.");
        }
        let via = ParameterBuilder::new()
            .name(VIA_HEADER)
            .parameter_in(ParameterIn::Header)
            .required(Required::False)
            .description(Some(
                "Which part of Casebook the action comes through; `api` unless given.",
            ))
            .schema(Some(
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .enum_values(Some(Surface::CLIENT.map(Surface::as_str))),
            ))
            .build();
        if takes_surface {
            operation.parameters.get_or_insert_with(Vec::new).push(via);
        }
    }
}

/// A filter sent empty means "any" (as a form's empty choice sends it), so
/// an empty string is a valid value of every filter.
fn allow_empty_filters(operation: &mut Operation) {
    let filters = operation
        .parameters
        .iter_mut()
        .flatten()
        .filter(|p| p.parameter_in == ParameterIn::Query);
    for parameter in filters {
        if let Some(schema) = parameter.schema.take() {
            let empty = ObjectBuilder::new()
                .schema_type(Type::String)
                .max_length(Some(0));
            let either = AnyOfBuilder::new().item(schema).item(empty).build();
            parameter.schema = Some(RefOr::T(Schema::AnyOf(either)));
        }
    }
}

fn problem_response(description: &str) -> RefOr<utoipa::openapi::Response> {
    ResponseBuilder::new()
        .description(description)
        .content(
            "application/problem+json",
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name(ProblemDetails::name())))
                .build(),
        )
        .build()
        .into()
}

/// The session id (and first step id) a response names, for the operations
/// that take one: lets a client (or a fuzzer) go create → start → complete.
fn add_links(openapi: &mut OpenApi) {
    const WITH_ID: [&str; 7] = [
        "get_session",
        "start_session",
        "complete_session",
        "reopen_session",
        "add_note",
        "list_events",
        "summarize_session",
    ];
    const WITH_STEP: [&str; 2] = ["check_step", "uncheck_step"];
    for item in openapi.paths.paths.values_mut() {
        for operation in [&mut item.get, &mut item.post].into_iter().flatten() {
            let Some(id) = operation.operation_id.as_deref() else {
                continue;
            };
            let status = match id {
                "create_session" => "201",
                "get_session" | "start_session" | "complete_session" | "reopen_session"
                | "check_step" | "uncheck_step" | "summarize_session" => "200",
                _ => continue,
            };
            let Some(RefOr::T(response)) = operation.responses.responses.get_mut(status) else {
                continue;
            };
            for target in WITH_ID {
                let link = LinkBuilder::new()
                    .operation_id(target)
                    .parameter("id", "$response.body#/id")
                    .build();
                response.links.insert(target.to_string(), link.into());
            }
            for target in WITH_STEP {
                let link = LinkBuilder::new()
                    .operation_id(target)
                    .parameter("id", "$response.body#/id")
                    .parameter("step_id", "$response.body#/steps/0/id")
                    .build();
                response.links.insert(target.to_string(), link.into());
            }
        }
    }
}

/// The document as JSON. utoipa 5 serializes a link's `operationId` and
/// `requestBody` in snake case, which no OpenAPI tool reads; renamed here.
pub fn to_json(openapi: &OpenApi) -> serde_json::Value {
    let mut json = serde_json::to_value(openapi).expect("the OpenAPI document serializes");
    let operations = json["paths"]
        .as_object_mut()
        .into_iter()
        .flat_map(|paths| paths.values_mut())
        .filter_map(|item| item.as_object_mut())
        .flat_map(|item| item.values_mut());
    let links = operations
        .filter_map(|operation| operation.get_mut("responses")?.as_object_mut())
        .flat_map(|responses| responses.values_mut())
        .filter_map(|response| response.get_mut("links")?.as_object_mut())
        .flat_map(|links| links.values_mut())
        .filter_map(|link| link.as_object_mut());
    for link in links {
        for (from, to) in [
            ("operation_id", "operationId"),
            ("request_body", "requestBody"),
        ] {
            if let Some(value) = link.remove(from) {
                link.insert(to.into(), value);
            }
        }
    }
    json
}
