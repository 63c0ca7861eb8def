//! Checks tool arguments against the tool's JSON Schema before they are sent. It covers what
//! tool schemas use (JSON Schema 2020-12 subset): `type` (one or several), `properties`,
//! `required`, `additionalProperties: false`, `enum`, `const`, `minimum`/`maximum`
//! (and exclusive forms), `minLength`/`maxLength`, `items`, `minItems`/`maxItems`. Unknown
//! keywords are not enforced (the server still validates); the first violation is reported
//! with its JSON path.

use serde_json::Value;

fn type_ok(t: &str, v: &Value) -> bool {
    match t {
        "object" => v.is_object(),
        "array" => v.is_array(),
        "string" => v.is_string(),
        "boolean" => v.is_boolean(),
        "null" => v.is_null(),
        "number" => v.is_number(),
        "integer" => v.as_f64().is_some_and(|f| f.fract() == 0.0),
        _ => true,
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// `Err(message)` naming the first violation, at most `depth` levels deep.
pub fn check(schema: &Value, value: &Value, path: &str) -> Result<(), String> {
    check_at(schema, value, path, 0)
}

fn check_at(schema: &Value, v: &Value, path: &str, depth: usize) -> Result<(), String> {
    let Some(s) = schema.as_object() else {
        return Ok(()); // `true` / `{}`-like schemas accept anything
    };
    if depth > 32 {
        return Err(format!("{path}: nested too deeply"));
    }
    let here = if path.is_empty() { "arguments" } else { path };
    match s.get("type") {
        Some(Value::String(t)) if !type_ok(t, v) => {
            return Err(format!("{here}: expected {t}, got {}", kind(v)));
        }
        Some(Value::Array(ts)) if !ts.iter().any(|t| t.as_str().is_some_and(|t| type_ok(t, v))) => {
            let names: Vec<&str> = ts.iter().filter_map(Value::as_str).collect();
            return Err(format!(
                "{here}: expected {}, got {}",
                names.join(" or "),
                kind(v)
            ));
        }
        _ => {}
    }
    if let Some(options) = s.get("enum").and_then(Value::as_array) {
        if !options.contains(v) {
            return Err(format!(
                "{here}: must be one of {}",
                Value::Array(options.clone())
            ));
        }
    }
    if let Some(c) = s.get("const") {
        if c != v {
            return Err(format!("{here}: must be {c}"));
        }
    }
    if let Some(n) = v.as_f64() {
        let bound = |k: &str| s.get(k).and_then(Value::as_f64);
        if bound("minimum").is_some_and(|m| n < m) {
            return Err(format!("{here}: must be at least {}", s["minimum"]));
        }
        if bound("maximum").is_some_and(|m| n > m) {
            return Err(format!("{here}: must be at most {}", s["maximum"]));
        }
        if bound("exclusiveMinimum").is_some_and(|m| n <= m) {
            return Err(format!(
                "{here}: must be more than {}",
                s["exclusiveMinimum"]
            ));
        }
        if bound("exclusiveMaximum").is_some_and(|m| n >= m) {
            return Err(format!(
                "{here}: must be less than {}",
                s["exclusiveMaximum"]
            ));
        }
    }
    if let Some(text) = v.as_str() {
        let len = text.chars().count() as u64;
        if s.get("minLength")
            .and_then(Value::as_u64)
            .is_some_and(|m| len < m)
        {
            return Err(format!(
                "{here}: must be at least {} characters",
                s["minLength"]
            ));
        }
        if s.get("maxLength")
            .and_then(Value::as_u64)
            .is_some_and(|m| len > m)
        {
            return Err(format!(
                "{here}: must be at most {} characters",
                s["maxLength"]
            ));
        }
    }
    if let Some(items) = v.as_array() {
        let n = items.len() as u64;
        if s.get("minItems")
            .and_then(Value::as_u64)
            .is_some_and(|m| n < m)
        {
            return Err(format!("{here}: needs at least {} items", s["minItems"]));
        }
        if s.get("maxItems")
            .and_then(Value::as_u64)
            .is_some_and(|m| n > m)
        {
            return Err(format!("{here}: takes at most {} items", s["maxItems"]));
        }
        if let Some(item_schema) = s.get("items") {
            for (i, item) in items.iter().enumerate() {
                check_at(item_schema, item, &format!("{here}[{i}]"), depth + 1)?;
            }
        }
    }
    if let Some(obj) = v.as_object() {
        let props = s.get("properties").and_then(Value::as_object);
        if let Some(required) = s.get("required").and_then(Value::as_array) {
            for r in required.iter().filter_map(Value::as_str) {
                if !obj.contains_key(r) {
                    return Err(format!("{here}: `{r}` is required"));
                }
            }
        }
        for (k, value) in obj {
            let child = if path.is_empty() {
                k.clone()
            } else {
                format!("{path}.{k}")
            };
            match props.and_then(|p| p.get(k)) {
                Some(ps) => check_at(ps, value, &child, depth + 1)?,
                None => match s.get("additionalProperties") {
                    Some(Value::Bool(false)) => {
                        return Err(format!("{here}: `{k}` is not a known argument"))
                    }
                    Some(extra @ Value::Object(_)) => check_at(extra, value, &child, depth + 1)?,
                    _ => {}
                },
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::check;
    use serde_json::json;

    #[test]
    fn checks_what_tool_schemas_use() {
        let s = json!({"type": "object", "required": ["a"], "additionalProperties": false,
            "properties": {
                "a": {"type": "number", "minimum": 0, "maximum": 10},
                "mode": {"type": "string", "enum": ["fast", "slow"]},
                "tags": {"type": "array", "items": {"type": "string", "maxLength": 3}, "maxItems": 2},
                "n": {"type": ["integer", "null"]}}});
        assert!(check(
            &s,
            &json!({"a": 1, "mode": "fast", "tags": ["x"], "n": null}),
            ""
        )
        .is_ok());
        for (v, why) in [
            (json!({}), "`a` is required"),
            (json!({"a": "1"}), "a: expected number, got string"),
            (json!({"a": 11}), "a: must be at most 10"),
            (json!({"a": 1, "mode": "turbo"}), "mode: must be one of"),
            (
                json!({"a": 1, "tags": ["long"]}),
                "tags[0]: must be at most 3 characters",
            ),
            (
                json!({"a": 1, "tags": ["a", "b", "c"]}),
                "tags: takes at most 2 items",
            ),
            (json!({"a": 1, "n": 1.5}), "n: expected integer or null"),
            (json!({"a": 1, "x": 1}), "`x` is not a known argument"),
            (json!([1]), "arguments: expected object, got array"),
        ] {
            let e = check(&s, &v, "").unwrap_err();
            assert!(e.contains(why), "{v}: {e}");
        }
        assert!(check(&json!(true), &json!({"anything": 1}), "").is_ok());
    }
}
