//! The figures, side by side with their baselines, as a table or JSON.

use crate::measure::{Latency, Throughput};
use std::fmt::Write;

/// One figure and its baseline.
pub struct Row {
    pub what: String,
    pub unit: &'static str,
    pub baseline: [f64; 2],
    pub rendezvous: [f64; 2],
    /// rendezvous / baseline for latencies (lower is better), baseline /
    /// rendezvous inverted for rates: always "how many baselines".
    pub ratio: f64,
}

impl Row {
    pub fn latency(what: &str, baseline: &Latency, rendezvous: &Latency) -> Row {
        let micros = |l: &Latency| [l.p50.as_secs_f64() * 1e6, l.p99.as_secs_f64() * 1e6];
        Row {
            what: what.to_owned(),
            unit: "µs p50 / p99",
            baseline: micros(baseline),
            rendezvous: micros(rendezvous),
            ratio: rendezvous.p50.as_secs_f64() / baseline.p50.as_secs_f64(),
        }
    }

    pub fn throughput(what: &str, baseline: &Throughput, rendezvous: &Throughput) -> Row {
        Row {
            what: what.to_owned(),
            unit: "per second",
            baseline: [baseline.per_second, f64::NAN],
            rendezvous: [rendezvous.per_second, f64::NAN],
            ratio: rendezvous.per_second / baseline.per_second,
        }
    }
}

/// Process memory across many calls.
pub struct Memory {
    pub calls: u64,
    pub before_bytes: u64,
    pub after_bytes: u64,
    pub reply_cache_bytes: u64,
}

pub struct Report {
    cpus: usize,
    rows: Vec<Row>,
    pub memory: Option<Memory>,
    pub matchmaker_datagrams_per_call: Option<f64>,
    /// Median time for a registration through one etcd-backed matchmaker
    /// to be found at another.
    pub visibility: Option<std::time::Duration>,
}

impl Report {
    pub fn new(cpus: usize) -> Report {
        Report {
            cpus,
            rows: Vec::new(),
            memory: None,
            matchmaker_datagrams_per_call: None,
            visibility: None,
        }
    }

    pub fn push(&mut self, row: Row) {
        self.rows.push(row);
    }

    pub fn table(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "rendezvous-bench: {} CPU(s) available{}",
            self.cpus,
            if self.cpus == 1 {
                " (pinned)"
            } else {
                "; pin with `taskset -c 0` for stable figures"
            }
        );
        let _ = writeln!(
            out,
            "\n{:<34} {:>21} {:>21} {:>7}",
            "measure", "baseline", "rendezvous", "ratio"
        );
        for row in &self.rows {
            let pair = |v: [f64; 2]| {
                if v[1].is_nan() {
                    format!("{:.0}", v[0])
                } else {
                    format!("{:.1} / {:.1}", v[0], v[1])
                }
            };
            let _ = writeln!(
                out,
                "{:<34} {:>21} {:>21} {:>6.2}x   {}",
                row.what,
                pair(row.baseline),
                pair(row.rendezvous),
                row.ratio,
                row.unit
            );
        }
        if let Some(m) = &self.memory {
            let _ = writeln!(
                out,
                "\nprocess memory: {:.1} MiB before, {:.1} MiB after {} calls ({:+.1} MiB); reply cache holds {} bytes",
                mib(m.before_bytes),
                mib(m.after_bytes),
                m.calls,
                mib(m.after_bytes) - mib(m.before_bytes),
                m.reply_cache_bytes
            );
        }
        if let Some(per_call) = self.matchmaker_datagrams_per_call {
            let _ = writeln!(
                out,
                "matchmaker lookups per call in steady state: {per_call:.6}"
            );
        }
        if let Some(visibility) = self.visibility {
            let _ = writeln!(
                out,
                "a registration through one etcd-backed matchmaker is found at another after {:.2} ms (median)",
                visibility.as_secs_f64() * 1e3
            );
        }
        let _ = writeln!(
            out,
            "\nbaseline: a raw async-std UDP round trip of the same size, unless the row names another"
        );
        out
    }

    pub fn json(&self) -> String {
        let rows: Vec<String> = self
            .rows
            .iter()
            .map(|r| {
                format!(
                    "{{\"measure\":{:?},\"unit\":{:?},\"baseline\":{},\"rendezvous\":{},\"ratio\":{:.4}}}",
                    r.what,
                    r.unit,
                    numbers(r.baseline),
                    numbers(r.rendezvous),
                    r.ratio
                )
            })
            .collect();
        let memory = self.memory.as_ref().map_or("null".to_owned(), |m| {
            format!(
                "{{\"calls\":{},\"before_bytes\":{},\"after_bytes\":{},\"reply_cache_bytes\":{}}}",
                m.calls, m.before_bytes, m.after_bytes, m.reply_cache_bytes
            )
        });
        format!(
            "{{\"cpus\":{},\"rows\":[{}],\"memory\":{},\"matchmaker_lookups_per_call\":{},\"etcd_visibility_ms\":{}}}",
            self.cpus,
            rows.join(","),
            memory,
            self.matchmaker_datagrams_per_call
                .map_or("null".to_owned(), |v| format!("{v}")),
            self.visibility.map_or("null".to_owned(), |v| format!(
                "{:.3}",
                v.as_secs_f64() * 1e3
            ))
        )
    }
}

fn numbers(values: [f64; 2]) -> String {
    if values[1].is_nan() {
        format!("[{:.3}]", values[0])
    } else {
        format!("[{:.3},{:.3}]", values[0], values[1])
    }
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}
