//! `rendezvous-daemon call NAME ARGS...`: a procedure called from the
//! shell, as `grpcurl ... call` does for gRPC.
//!
//! - **Arguments.** Each command-line argument is one JSON value, and the
//!   call's argument tuple is the CBOR array of them, made by serde
//!   (`serde_json` reads, `ciborium` writes; no converter of our own). A
//!   struct is a map of its field names, an enum is what serde writes
//!   (`"DivisionByZero"`, `{"Circle": 2.0}`), a byte string is an array of
//!   numbers. A word that is not JSON is taken as a string, so
//!   `call greet world` works; a word that starts like JSON (`{`, `[`,
//!   `"`) and does not parse is an error naming the argument, never a
//!   string.
//! - **Which signature.** The fingerprint a call carries is taken from the
//!   registrations of the name (the tool does not know the types): when
//!   they agree on one, that one; when servers offer several, the call is
//!   refused naming them, and `--signature HEX` picks one. The server
//!   still checks everything: arguments that do not decode as its types
//!   are refused (`BadArguments`), a server of another fingerprint answers
//!   `SignatureMismatch`, so a wrong call is an error, never a silent one.
//! - **Idempotent.** A procedure whose registration declares it
//!   (`... #idempotent`) is retried as its proxy would be; `--idempotent`
//!   says so for one whose registration gives no text, and is refused for
//!   one whose text says it is not.
//! - **Result.** Printed as JSON (`serde_json` from the decoded CBOR), or
//!   with `--raw` in CBOR diagnostic notation ([`diagnostic`]). An `Err`
//!   the procedure returned is a result like any other (exit status 0); a
//!   call that failed (no server, refused, no reply) is the error's line on
//!   stderr and exit status 1.

use super::args::CallOptions;
use super::diagnostic;
use super::query::{self, registrations_of};
use super::runtime;
use rendezvous_core::protocol::matchmaker::Registration;
use rendezvous_core::protocol::wire::{decode_payload, encode_payload};
use rendezvous_core::{Client, Error, Fingerprint, RemoteProcedure};

/// `rendezvous-daemon call NAME ARGS...`.
pub fn call(options: CallOptions) -> Result<(), String> {
    let args = encode_arguments(&options.args)?;
    let addresses = query::addresses(&options.target)?;
    let printed = runtime::block_on(async {
        let client = Client::builder()
            .matchmakers(addresses)
            .deadline(options.deadline)
            .build()
            .map_err(|e| e.to_string())?;
        let registrations = registrations_of(client.matchmaker(), &options.name)
            .await
            .map_err(|e| e.to_string())?;
        let procedure = resolve(
            &options.name,
            &registrations,
            options.signature,
            options.idempotent,
        )?;
        let result = client
            .call_encoded(&procedure, args)
            .await
            .map_err(|e| e.to_string())?;
        render(&options.name, &result, options.raw)
    })?;
    println!("{printed}");
    Ok(())
}

/// The CBOR argument tuple of the command-line arguments.
fn encode_arguments(texts: &[String]) -> Result<Vec<u8>, String> {
    let values = texts
        .iter()
        .enumerate()
        .map(|(index, text)| json_argument(index + 1, text))
        .collect::<Result<Vec<_>, _>>()?;
    encode_payload(&values).map_err(|error| format!("the arguments could not be sent: {error}"))
}

/// Argument `position` (from 1) as a JSON value: itself if it parses,
/// else the text as a string, unless it starts like JSON.
fn json_argument(position: usize, text: &str) -> Result<serde_json::Value, String> {
    match serde_json::from_str(text) {
        Ok(value) => Ok(value),
        Err(error) if text.trim_start().starts_with(['{', '[', '"']) => Err(format!(
            "argument {position} ({text:?}) is not valid JSON: {error}; quote it for the shell, e.g. '{{\"name\": \"x\"}}'"
        )),
        Err(_) => Ok(serde_json::Value::String(text.to_owned())),
    }
}

/// The procedure to call: the name (for the process's life; one call per
/// process), the fingerprint the registrations agree on or the one asked
/// for, and whether it may be retried elsewhere.
fn resolve(
    name: &str,
    registrations: &[Registration],
    wanted: Option<Fingerprint>,
    idempotent_flag: bool,
) -> Result<RemoteProcedure, String> {
    let mut offered: Vec<(Fingerprint, Option<&str>)> = Vec::new();
    for registration in registrations {
        if !offered.iter().any(|(f, _)| *f == registration.signature) {
            offered.push((
                registration.signature,
                registration.signature_text.as_deref(),
            ));
        }
    }
    let (signature, text) = match (wanted, offered.as_slice()) {
        (Some(wanted), _) => {
            let text = offered.iter().find(|(f, _)| *f == wanted).and_then(|o| o.1);
            (wanted, text)
        }
        (None, []) => return Err(Error::NotFound { name: name.into() }.to_string()),
        (None, [(signature, text)]) => (*signature, *text),
        (None, several) => {
            let listed: Vec<String> = several
                .iter()
                .map(|(f, text)| format!("{f} ({})", text.unwrap_or("no signature text")))
                .collect();
            return Err(format!(
                "servers of `{name}` offer {} signatures: {}; pick one with --signature HEX",
                several.len(),
                listed.join(", ")
            ));
        }
    };
    let declared = text.map(|text| text.trim_end().ends_with("#idempotent"));
    if idempotent_flag && declared == Some(false) {
        return Err(format!(
            "--idempotent: `{name}` is registered as not idempotent ({}), so retrying it elsewhere could run it twice; drop --idempotent",
            text.unwrap_or_default()
        ));
    }
    Ok(RemoteProcedure {
        name: Box::leak(name.to_owned().into_boxed_str()),
        signature,
        idempotent: idempotent_flag || declared == Some(true),
    })
}

/// The result as JSON, or as CBOR diagnostic notation.
fn render(name: &str, result: &[u8], raw: bool) -> Result<String, String> {
    let value: ciborium::Value = decode_payload(result)
        .map_err(|error| format!("the result of `{name}` is not CBOR: {error}"))?;
    if raw {
        return Ok(diagnostic::notation(&value));
    }
    serde_json::to_string(&value).map_err(|error| {
        format!("the result of `{name}` has no JSON form ({error}); print it with --raw")
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::SocketAddr;

    fn registration(signature: &str, text: Option<&str>) -> Registration {
        Registration {
            name: "math.div".into(),
            endpoint: SocketAddr::from(([127, 0, 0, 1], 4000)),
            signature: Fingerprint::of(signature),
            signature_text: text.map(str::to_owned),
            incarnation: 1,
            ttl_ms: 1000,
        }
    }

    fn arguments(texts: &[&str]) -> Result<ciborium::Value, String> {
        let texts: Vec<String> = texts.iter().map(|t| (*t).to_owned()).collect();
        let bytes = encode_arguments(&texts)?;
        Ok(ciborium::from_reader(bytes.as_slice()).expect("CBOR"))
    }

    #[test]
    fn each_argument_is_one_json_value_in_the_tuple() {
        use ciborium::Value;
        let tuple = arguments(&["2", "-3", "hello", r#""5""#, r#"{"name":"x","body":[1]}"#]);
        let expected = Value::Array(vec![
            Value::Integer(2.into()),
            Value::Integer((-3).into()),
            Value::Text("hello".into()),
            Value::Text("5".into()),
            // serde_json's maps keep their keys sorted; a struct's fields
            // are read by name, in any order.
            Value::Map(vec![
                (
                    Value::Text("body".into()),
                    Value::Array(vec![Value::Integer(1.into())]),
                ),
                (Value::Text("name".into()), Value::Text("x".into())),
            ]),
        ]);
        assert_eq!(tuple, Ok(expected));
        assert_eq!(arguments(&[]), Ok(Value::Array(vec![])));
    }

    #[test]
    fn text_that_starts_like_json_must_be_json() {
        for broken in [r#"{"name": "x""#, "[1, 2", r#""open"#] {
            let error = arguments(&["1", broken]).expect_err(broken);
            assert!(error.contains("argument 2"), "{error}");
            assert!(error.contains("not valid JSON"), "{error}");
        }
    }

    #[test]
    fn the_signature_is_the_one_the_registrations_agree_on() {
        let text = "math.div(i64, i64) -> Result<i64, MathError> #idempotent";
        let one = [
            registration(text, Some(text)),
            registration(text, Some(text)),
        ];
        let procedure = resolve("math.div", &one, None, false).expect("one signature");
        assert_eq!(procedure.signature, Fingerprint::of(text));
        assert!(procedure.idempotent, "declared idempotent in its text");

        let two = [
            registration(text, Some(text)),
            registration("math.div(u8)->u8", None),
        ];
        let error = resolve("math.div", &two, None, false).expect_err("two signatures");
        assert!(error.contains("2 signatures"), "{error}");
        assert!(error.contains("--signature"), "{error}");
        let picked = Fingerprint::of("math.div(u8)->u8");
        let procedure = resolve("math.div", &two, Some(picked), true).expect("picked");
        assert_eq!((procedure.signature, procedure.idempotent), (picked, true));

        let error = resolve("math.div", &[], None, false).expect_err("none");
        assert!(
            error.contains("no server has registered `math.div`"),
            "{error}"
        );
    }

    #[test]
    fn idempotent_is_refused_for_a_procedure_registered_as_not() {
        let text = "math.add(i64, i64) -> i64";
        let error = resolve("math.add", &[registration(text, Some(text))], None, true)
            .expect_err("not idempotent");
        assert!(error.contains("drop --idempotent"), "{error}");
        let procedure =
            resolve("math.add", &[registration(text, Some(text))], None, false).expect("a call");
        assert!(!procedure.idempotent);
    }

    #[test]
    fn results_print_as_json_or_as_diagnostic_notation() {
        use ciborium::Value;
        let tuple = Value::Array(vec![
            Value::Integer(5.into()),
            Value::Text("x".into()),
            Value::Bytes(b"hi".to_vec()),
        ]);
        let bytes = encode_payload(&tuple).expect("CBOR");
        assert_eq!(
            render("p", &bytes, false),
            Ok(r#"[5,"x",[104,105]]"#.into())
        );
        assert_eq!(render("p", &bytes, true), Ok(r#"[5, "x", h'6869']"#.into()));
        let error = render("p", &[0xff], false).expect_err("not CBOR");
        assert!(error.contains("the result of `p` is not CBOR"), "{error}");
    }
}
