//! Page data loaded through server functions, and the one way the browser parses JSON.
//!
//! serde_json's parser is generic over what it reads and what it builds: every type parsed
//! straight from text gets its own copy of the parser in the WASM, and `from_str` and
//! `from_slice` are two such copies. Here all JSON the browser reads (server-function
//! responses through [`JsonOut`], the page's serialized resources through [`Json`]) goes
//! through one parser into a `serde_json::Value`, which each type then reads: the WASM went
//! from 2.40 to 2.21 MB (one input kind), then to 2.19 MB (one parser), see bench/RESULTS.md.

use std::future::Future;

use leptos::{
    prelude::Resource,
    server::codee::{Decoder, Encoder},
};
use serde::{de::DeserializeOwned, Serialize};

/// JSON like Leptos' `JsonSerdeCodec`, decoded with [`parse`].
pub struct Json;

impl<T: Serialize> Encoder<T> for Json {
    type Error = serde_json::Error;
    type Encoded = String;

    fn encode(val: &T) -> Result<String, serde_json::Error> {
        serde_json::to_string(val)
    }
}

impl<T: DeserializeOwned> Decoder<T> for Json {
    type Error = serde_json::Error;
    type Encoded = str;

    fn decode(val: &str) -> Result<T, serde_json::Error> {
        parse(val)
    }
}

/// Parses JSON text the way server-function responses are parsed.
pub fn parse<T: DeserializeOwned>(text: &str) -> Result<T, serde_json::Error> {
    parse_bytes(text.as_bytes())
}

/// One parser for every type: bytes to a `serde_json::Value`, then the value to `T`.
pub fn parse_bytes<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, serde_json::Error> {
    serde_json::from_slice::<serde_json::Value>(bytes).and_then(T::deserialize)
}

/// Server-function responses as JSON, decoded with [`parse_bytes`].
pub struct JsonValueEncoding;

impl leptos::server_fn::ContentType for JsonValueEncoding {
    const CONTENT_TYPE: &'static str = "application/json";
}

impl leptos::server_fn::FormatType for JsonValueEncoding {
    const FORMAT_TYPE: leptos::server_fn::Format = leptos::server_fn::Format::Text;
}

impl<T: Serialize> leptos::server_fn::Encodes<T> for JsonValueEncoding {
    type Error = serde_json::Error;

    fn encode(output: &T) -> Result<leptos::server_fn::Bytes, serde_json::Error> {
        serde_json::to_vec(output).map(Into::into)
    }
}

impl<T: DeserializeOwned> leptos::server_fn::Decodes<T> for JsonValueEncoding {
    type Error = serde_json::Error;

    fn decode(bytes: leptos::server_fn::Bytes) -> Result<T, serde_json::Error> {
        parse_bytes(&bytes)
    }
}

/// The output encoding of every dashboard server function.
pub type JsonOut = leptos::server_fn::codec::Post<JsonValueEncoding>;

/// `Resource::new` with the [`Json`] codec: runs `fetcher` on the server while rendering, sends
/// the value along with the page, and runs it again in the browser whenever `source` changes.
#[track_caller]
pub fn resource<T, S, Fut>(
    source: impl Fn() -> S + Send + Sync + 'static,
    fetcher: impl Fn(S) -> Fut + Send + Sync + 'static,
) -> Resource<T, Json>
where
    T: Serialize + DeserializeOwned + Send + Sync + 'static,
    S: PartialEq + Clone + Send + Sync + 'static,
    Fut: Future<Output = T> + Send + 'static,
{
    Resource::new_with_options(source, fetcher, false)
}

/// The resource type [`resource`] returns.
pub type Data<T> = Resource<T, Json>;
