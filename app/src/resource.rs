//! Page data loaded through server functions, and the one way the browser parses JSON.
//!
//! serde_json's parser is generic over its input: `from_str` and `from_slice` are two separate
//! copies of every deserializer in the WASM. Server functions parse their responses from bytes,
//! Leptos' default resource codec parses the page's serialized data from a `str`; parsing both
//! (and anything else) from bytes keeps one copy per type (the WASM went from 2.40 to 2.21 MB).

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

/// Parses JSON text the way server-function responses are parsed (from bytes).
pub fn parse<T: DeserializeOwned>(text: &str) -> Result<T, serde_json::Error> {
    serde_json::from_slice(text.as_bytes())
}

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
