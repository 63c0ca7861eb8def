//! Page data loaded through server functions, and the one way the browser parses JSON.
//!
//! serde_json's parser is generic over what it reads and what it builds: every type parsed
//! straight from text gets its own copy of the parser in the WASM, and `from_str` and
//! `from_slice` are two such copies. Here all JSON the browser reads (server-function
//! responses through [`JsonOut`], the page's serialized resources through [`Json`]) goes
//! through one parser into a `serde_json::Value`, which each type then reads: the WASM went
//! from 2.40 to 2.21 MB (one input kind), then to 2.19 MB (one parser), see bench/RESULTS.md.

use std::{any::Any, future::Future, marker::PhantomData, pin::Pin, sync::Arc, sync::OnceLock};

use leptos::{
    prelude::*,
    server::codee::{Decoder, Encoder},
};
use serde::{de::DeserializeOwned, Serialize};

mod de;

/// Parses JSON text the way server-function responses are parsed.
pub fn parse<T: DeserializeOwned>(text: &str) -> Result<T, serde_json::Error> {
    parse_bytes(text.as_bytes())
}

/// One parser for every type: bytes to a `serde_json::Value`, then the value to `T`.
pub fn parse_bytes<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, serde_json::Error> {
    serde_json::from_slice(bytes).and_then(from_value)
}

/// `T::deserialize(value)`, reading structs from objects only (see [`de`]).
fn from_value<T: DeserializeOwned>(value: serde_json::Value) -> Result<T, serde_json::Error> {
    T::deserialize(de::De(value))
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

// ---- Resources -------------------------------------------------------------------------------
//
// Leptos' `Resource<T>` is generic over the value, the source and the fetcher: each page's
// resource used to bring its own copy of the resource, async-derived signal and memo code into
// the WASM. Here there is one `Resource<Loaded, Json>`: its source (a [`Key`]) and its value (a
// [`Loaded`]) have their types erased, and [`Data<T>`] gives the value its type back where it
// is read. The WASM went from 2.18 to 2.06 MB (545 to 531 KB brotli).

/// `Resource::new` for a server function's answer: runs `fetcher` on the server while
/// rendering, sends the answer along with the page, and runs it again in the browser whenever
/// `source` changes.
pub fn resource<T, S, Fut>(
    source: impl Fn() -> S + Send + Sync + 'static,
    fetcher: impl Fn(S) -> Fut + Send + Sync + 'static,
) -> Data<T>
where
    T: Serialize + Send + Sync + 'static,
    S: PartialEq + Clone + Send + Sync + 'static,
    Fut: Future<Output = Result<T, ServerFnError>> + Send + 'static,
{
    let fetcher = Arc::new(fetcher);
    let key = move || {
        Key(Arc::new(Keyed {
            source: source(),
            fetcher: Arc::clone(&fetcher),
        }))
    };
    Data {
        resource: erased(Box::new(key)),
        ty: PhantomData,
    }
}

/// The one resource type: not generic, so its code is in the WASM once.
fn erased(key: Box<dyn Fn() -> Key + Send + Sync>) -> Resource<Loaded, Json> {
    Resource::new_with_options(key, |key: Key| key.0.fetch(), false)
}

/// A server function's answer, loaded by [`resource`].
pub struct Data<T> {
    resource: Resource<Loaded, Json>,
    ty: PhantomData<fn() -> T>,
}

impl<T> Clone for Data<T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for Data<T> {}

impl<T: Serialize + DeserializeOwned + Send + Sync + 'static> Data<T> {
    /// The answer once there is one, tracked (inside `Suspense` and `Transition`, waited for).
    pub fn get(&self) -> Option<Result<T, ServerFnError>>
    where
        T: Clone,
    {
        self.resource.get().map(|l| l.read::<T>().clone())
    }

    /// Applies `f` to the answer so far, untracked.
    pub fn with_untracked<U>(&self, f: impl FnOnce(Option<&Result<T, ServerFnError>>) -> U) -> U {
        f(self.resource.get_untracked().as_ref().map(Loaded::read))
    }

    /// Runs the server function again.
    pub fn refetch(&self) {
        self.resource.refetch();
    }
}

type Fetch = Pin<Box<dyn Future<Output = Loaded> + Send>>;

/// A resource's source value with its type erased; equal when the source values are equal.
#[derive(Clone)]
struct Key(Arc<dyn Source>);

impl PartialEq for Key {
    fn eq(&self, other: &Self) -> bool {
        self.0.same(&*other.0)
    }
}

/// What [`Key`] erases: a source value and the fetcher that loads the data for it.
trait Source: Any + Send + Sync {
    fn same(&self, other: &dyn Source) -> bool;
    fn fetch(&self) -> Fetch;
}

struct Keyed<S, F> {
    source: S,
    fetcher: Arc<F>,
}

impl<T, S, F, Fut> Source for Keyed<S, F>
where
    T: Serialize + Send + Sync + 'static,
    S: PartialEq + Clone + Send + Sync + 'static,
    F: Fn(S) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<T, ServerFnError>> + Send + 'static,
{
    fn same(&self, other: &dyn Source) -> bool {
        (other as &dyn Any)
            .downcast_ref::<Self>()
            .is_some_and(|o| o.source == self.source)
    }

    fn fetch(&self) -> Fetch {
        let answer = (self.fetcher)(self.source.clone());
        Box::pin(async move { Loaded::fetched(answer.await) })
    }
}

/// A resource's value with its type erased: fetched here, or sent along with the page and
/// given its type when first read.
#[derive(Clone)]
pub struct Loaded(Arc<Slot>);

enum Slot {
    Fetched(Box<dyn Answer>),
    Sent {
        json: serde_json::Value,
        typed: OnceLock<Box<dyn Answer>>,
    },
}

/// A server function's answer, `Result<T, ServerFnError>`.
trait Answer: Any + Send + Sync {
    /// The answer as JSON, for the page (only the server sends resources along).
    #[cfg(feature = "ssr")]
    fn to_json(&self) -> Result<String, serde_json::Error>;
}

impl<T: Serialize + Send + Sync + 'static> Answer for Result<T, ServerFnError> {
    #[cfg(feature = "ssr")]
    fn to_json(&self) -> Result<String, serde_json::Error> {
        serde_json::to_string(self)
    }
}

impl Loaded {
    fn fetched<T: Serialize + Send + Sync + 'static>(answer: Result<T, ServerFnError>) -> Self {
        Self(Arc::new(Slot::Fetched(Box::new(answer))))
    }

    /// The answer as `Result<T, ServerFnError>`, which it is: [`Data<T>`] only reads the
    /// resources [`resource`] made for its `T`.
    fn read<T: Serialize + DeserializeOwned + Send + Sync + 'static>(
        &self,
    ) -> &Result<T, ServerFnError> {
        let answer = match &*self.0 {
            Slot::Fetched(answer) => answer,
            Slot::Sent { json, typed } => typed.get_or_init(|| {
                Box::new(
                    from_value::<Result<T, ServerFnError>>(json.clone())
                        .unwrap_or_else(|e| Err(ServerFnError::Deserialization(e.to_string()))),
                )
            }),
        };
        (&**answer as &dyn Any)
            .downcast_ref()
            .expect("a resource is read as the type it loads")
    }
}

/// The codec of [`Loaded`]: JSON, decoded with the one parser of [`parse_bytes`].
pub struct Json;

impl Encoder<Loaded> for Json {
    type Error = serde_json::Error;
    type Encoded = String;

    fn encode(val: &Loaded) -> Result<String, serde_json::Error> {
        match &*val.0 {
            Slot::Sent { json, .. } => serde_json::to_string(json),
            #[cfg(feature = "ssr")]
            Slot::Fetched(answer) => answer.to_json(),
            // Leptos only encodes resources on the server.
            #[cfg(not(feature = "ssr"))]
            Slot::Fetched(_) => Err(serde::ser::Error::custom(
                "resources are only sent from the server",
            )),
        }
    }
}

impl Decoder<Loaded> for Json {
    type Error = serde_json::Error;
    type Encoded = str;

    fn decode(val: &str) -> Result<Loaded, serde_json::Error> {
        let json = serde_json::from_slice(val.as_bytes())?;
        Ok(Loaded(Arc::new(Slot::Sent {
            json,
            typed: OnceLock::new(),
        })))
    }
}

#[cfg(test)]
mod tests {
    use leptos::prelude::ServerFnError;
    use serde_json::json;
    use types::{pipeline::StepInfo, SyncDetail};

    use super::{parse, Json, Loaded};
    use leptos::server::codee::Decoder;

    fn step() -> serde_json::Value {
        json!({
            "name": "deploy",
            "status": "failed",
            "attempts": 2,
            "started_at": "2025-01-02T03:04:05Z",
            "finished_at": null,
            "error": "no image",
            "instance": null,
            "logs": [{ "at": "2025-01-02T03:04:06.5Z", "text": "pulling" }],
        })
    }

    #[test]
    fn reads_what_serde_json_reads() {
        let sync = json!({
            "id": "s1", "registry_id": "r1", "trigger": "manual", "mode": "full",
            "state": "succeeded", "started_at": "2025-01-02T03:04:05Z", "finished_at": null,
            "pages": 1, "fetched": 3, "added": 2, "updated": 0, "unchanged": 0, "removed": 0,
            "skipped": 1, "error": null,
            "skipped_entries": [{ "index": 2, "name": "x", "version": "1", "reason": "bad" }],
        });
        assert_eq!(
            parse::<SyncDetail>(&sync.to_string()).unwrap(),
            serde_json::from_value::<SyncDetail>(sync).unwrap()
        );
        let answer = json!({ "Ok": step() });
        assert_eq!(
            parse::<Result<StepInfo, ServerFnError>>(&answer.to_string()).unwrap(),
            serde_json::from_value::<Result<StepInfo, ServerFnError>>(answer).unwrap()
        );
        assert!(parse::<Option<u32>>("null").unwrap().is_none());
        assert_eq!(
            parse::<serde_json::Value>(&step().to_string()).unwrap(),
            step()
        );
    }

    #[test]
    fn structs_are_objects_only() {
        assert!(
            parse::<StepInfo>(r#"["deploy", "failed", 2, null, null, null, null, []]"#).is_err()
        );
        assert!(parse::<StepInfo>(r#"{"name": "deploy"}"#).is_err());
    }

    #[test]
    fn values_sent_with_the_page_are_read_as_their_type() {
        let sent = Ok::<_, ServerFnError>(serde_json::from_value::<StepInfo>(step()).unwrap());
        let loaded: Loaded = Json::decode(&serde_json::to_string(&sent).unwrap()).unwrap();
        assert_eq!(loaded.read::<StepInfo>(), &sent);

        let failed = Err::<StepInfo, _>(ServerFnError::ServerError("no".to_owned()));
        let loaded: Loaded = Json::decode(&serde_json::to_string(&failed).unwrap()).unwrap();
        assert_eq!(loaded.read::<StepInfo>(), &failed);

        let loaded = Loaded::fetched(sent.clone());
        assert_eq!(loaded.read::<StepInfo>(), &sent);
    }
}
