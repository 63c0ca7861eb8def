//! How the server-sent event streams are documented: one schema per frame (`event`, `id`,
//! `data`), the shape OpenAPI 3.2's `itemSchema` and schemathesis's stream check expect, with
//! `data` a JSON string whose own schema is named by `contentSchema`.

use utoipa::{
    openapi::{schema::ObjectBuilder, Ref, RefOr, Schema, Type},
    ToSchema,
};

fn json_string(schema: &str, description: &str) -> Schema {
    Schema::Object(
        ObjectBuilder::new()
            .schema_type(Type::String)
            .description(Some(description))
            .content_media_type("application/json")
            .content_schema(Some(RefOr::Ref(Ref::from_schema_name(schema))))
            .build(),
    )
}

fn run_data() -> Schema {
    json_string("RunInfo", "The run (a `RunInfo`) as JSON.")
}

fn line_data() -> Schema {
    json_string("LogLineView", "The line (a `LogLineView`) as JSON.")
}

/// One frame of a pipeline-run event stream.
#[allow(dead_code)] // documents the wire format; the handlers build frames with axum's `Event`
#[derive(ToSchema)]
pub struct RunEventFrame {
    /// Always `run`.
    #[schema(pattern = "^run$")]
    event: String,
    /// The position to resume from (`Last-Event-ID`).
    id: String,
    #[schema(schema_with = run_data)]
    data: String,
}

/// One frame of a followed log (`follow=true`).
#[allow(dead_code)]
#[derive(ToSchema)]
pub struct LogLineFrame {
    /// Always `line`.
    #[schema(pattern = "^line$")]
    event: String,
    #[schema(schema_with = line_data)]
    data: String,
}
