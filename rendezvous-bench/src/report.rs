//! The figures, side by side with their baselines, as a table or JSON.

use crate::measure::{Latency, Throughput};
use crate::steal::CpuTime;
use crate::subject::Traffic;
use std::fmt::Write;

/// One figure and its baseline, in one layout.
pub struct Row {
    pub layout: &'static str,
    pub what: String,
    pub unit: &'static str,
    /// What the figure is compared with: "raw" (the raw async-std UDP
    /// ping-pong) unless the row names another.
    pub against: &'static str,
    pub baseline: [f64; 2],
    pub rendezvous: [f64; 2],
    /// rendezvous / baseline for latencies (lower is better), baseline /
    /// rendezvous inverted for rates: always "how many baselines".
    pub ratio: f64,
    /// The same for the p99 of a latency row.
    pub p99_ratio: Option<f64>,
    /// For a throughput row: what rendezvous's calls took in datagrams.
    pub traffic: Option<Traffic>,
}

impl Row {
    pub fn latency(
        layout: &'static str,
        what: &str,
        against: &'static str,
        baseline: &Latency,
        rendezvous: &Latency,
    ) -> Row {
        let micros = |l: &Latency| [l.p50.as_secs_f64() * 1e6, l.p99.as_secs_f64() * 1e6];
        Row {
            layout,
            what: what.to_owned(),
            unit: "µs p50 / p99",
            against,
            baseline: micros(baseline),
            rendezvous: micros(rendezvous),
            ratio: rendezvous.p50.as_secs_f64() / baseline.p50.as_secs_f64(),
            p99_ratio: Some(rendezvous.p99.as_secs_f64() / baseline.p99.as_secs_f64()),
            traffic: None,
        }
    }

    pub fn throughput(
        layout: &'static str,
        what: &str,
        against: &'static str,
        baseline: &Throughput,
        rendezvous: &Throughput,
    ) -> Row {
        Row {
            layout,
            what: what.to_owned(),
            unit: "per second",
            against,
            baseline: [baseline.per_second, f64::NAN],
            rendezvous: [rendezvous.per_second, f64::NAN],
            ratio: rendezvous.per_second / baseline.per_second,
            p99_ratio: None,
            traffic: None,
        }
    }

    /// The row, with what rendezvous's calls took in datagrams.
    pub fn sent(mut self, traffic: Traffic) -> Row {
        self.traffic = Some(traffic);
        self
    }
}

/// Process memory across many calls.
pub struct Memory {
    pub calls: u64,
    pub before_bytes: u64,
    pub after_bytes: u64,
    pub reply_cache_bytes: u64,
}

/// One layout measured: how many CPUs it had, and the share of CPU time
/// stolen from the machine while it was measured (`steal`).
struct LayoutRun {
    name: &'static str,
    cpus: usize,
    started: Option<CpuTime>,
    stolen_percent: Option<f64>,
}

pub struct Report {
    layouts: Vec<LayoutRun>,
    rows: Vec<Row>,
    pub memory: Option<Memory>,
    pub matchmaker_datagrams_per_call: Option<f64>,
    /// Median time for a registration through one etcd-backed matchmaker
    /// to be found at another.
    pub visibility: Option<std::time::Duration>,
}

impl Report {
    pub fn new() -> Report {
        Report {
            layouts: Vec::new(),
            rows: Vec::new(),
            memory: None,
            matchmaker_datagrams_per_call: None,
            visibility: None,
        }
    }

    /// Rows pushed from now on are measured in `layout`, on `cpus` CPUs.
    pub fn layout(&mut self, layout: &'static str, cpus: usize) {
        self.layouts.push(LayoutRun {
            name: layout,
            cpus,
            started: CpuTime::now(),
            stolen_percent: None,
        });
    }

    /// The layout begun last is measured: what was stolen meanwhile.
    pub fn layout_done(&mut self) {
        if let Some(run) = self.layouts.last_mut() {
            run.stolen_percent = run.started.and_then(|t| t.stolen_percent_since());
        }
    }

    pub fn push(&mut self, row: Row) {
        self.rows.push(row);
    }

    pub fn table(&self) -> String {
        let mut out = String::new();
        let _ = write!(out, "rendezvous-bench");
        for run in &self.layouts {
            let (layout, cpus) = (run.name, run.cpus);
            let stolen = run.stolen_percent.map_or(String::new(), |p| {
                format!(", {p:.0}% of the machine's CPU time stolen by its hypervisor meanwhile")
            });
            let _ = writeln!(out, "\n\n{layout}: {cpus} CPU(s){stolen}");
            let _ = writeln!(
                out,
                "{:<48} {:>21} {:>21} {:>7}",
                "measure", "baseline", "rendezvous", "ratio"
            );
            for row in self.rows.iter().filter(|row| row.layout == layout) {
                let pair = |v: [f64; 2]| {
                    if v[1].is_nan() {
                        format!("{:.0}", v[0])
                    } else {
                        format!("{:.1} / {:.1}", v[0], v[1])
                    }
                };
                let p99 = row
                    .p99_ratio
                    .map_or(String::new(), |r| format!(" (p99 {r:.2}x)"));
                let sent = row.traffic.map_or(String::new(), |t| {
                    format!(
                        " ({:.1} calls a datagram, {} retransmitted)",
                        t.calls_per_datagram(),
                        t.retransmissions
                    )
                });
                let what = match row.against {
                    "raw" => row.what.clone(),
                    other => format!("{}, vs {other}", row.what),
                };
                let _ = writeln!(
                    out,
                    "{:<48} {:>21} {:>21} {:>6.2}x   {}{p99}{sent}",
                    what,
                    pair(row.baseline),
                    pair(row.rendezvous),
                    row.ratio,
                    row.unit
                );
            }
        }
        out.push('\n');
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
            "\nbaseline: a raw async-std UDP round trip of the same size, unless the row names another\n(tarpc: tarpc 0.38's add(i32, i32), bincode over one TCP connection, tokio)"
        );
        out
    }

    pub fn json(&self) -> String {
        let rows: Vec<String> = self
            .rows
            .iter()
            .map(|r| {
                format!(
                    "{{\"layout\":{:?},\"measure\":{:?},\"against\":{:?},\"unit\":{:?},\"baseline\":{},\"rendezvous\":{},\"ratio\":{:.4},\"p99_ratio\":{},\"calls_per_datagram\":{},\"retransmissions\":{}}}",
                    r.layout,
                    r.what,
                    r.against,
                    r.unit,
                    numbers(r.baseline),
                    numbers(r.rendezvous),
                    r.ratio,
                    r.p99_ratio.map_or("null".to_owned(), |v| format!("{v:.4}")),
                    r.traffic.map_or("null".to_owned(), |t| format!("{:.2}", t.calls_per_datagram())),
                    r.traffic.map_or("null".to_owned(), |t| t.retransmissions.to_string())
                )
            })
            .collect();
        let memory = self.memory.as_ref().map_or("null".to_owned(), |m| {
            format!(
                "{{\"calls\":{},\"before_bytes\":{},\"after_bytes\":{},\"reply_cache_bytes\":{}}}",
                m.calls, m.before_bytes, m.after_bytes, m.reply_cache_bytes
            )
        });
        let layouts: Vec<String> = self
            .layouts
            .iter()
            .map(|run| {
                let stolen = run
                    .stolen_percent
                    .map_or("null".to_owned(), |p| format!("{p:.1}"));
                format!(
                    "{{\"layout\":{:?},\"cpus\":{},\"stolen_percent\":{stolen}}}",
                    run.name, run.cpus
                )
            })
            .collect();
        format!(
            "{{\"layouts\":[{}],\"rows\":[{}],\"memory\":{},\"matchmaker_lookups_per_call\":{},\"etcd_visibility_ms\":{}}}",
            layouts.join(","),
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn latency(p50: u64, p99: u64) -> Latency {
        Latency {
            p50: Duration::from_micros(p50),
            p99: Duration::from_micros(p99),
        }
    }

    /// Every ratio is a number, latency rows add their p99's, every row
    /// says its layout and what it is measured against, and every layout
    /// the CPU time stolen while it was measured.
    #[test]
    fn json_rows_carry_their_layout_ratio_and_p99_ratio() {
        let mut report = Report::new();
        report.layout("pinned", 1);
        report.push(Row::latency(
            "pinned",
            "call",
            "tarpc",
            &latency(20, 40),
            &latency(25, 100),
        ));
        let rate = |per_second| Throughput { per_second };
        report.push(Row::throughput(
            "pinned",
            "calls/s",
            "raw",
            &rate(100.0),
            &rate(300.0),
        ));
        // A few of the kernel's clock ticks (10 ms or less) pass.
        std::thread::sleep(Duration::from_millis(50));
        report.layout_done();
        let json = report.json();
        // This machine's /proc/stat gives the layout its stolen share.
        assert!(
            json.contains(r#""layouts":[{"layout":"pinned","cpus":1,"stolen_percent":"#),
            "{json}"
        );
        assert!(!json.contains(r#""stolen_percent":null"#), "{json}");
        assert!(
            json.contains(r#""layout":"pinned","measure":"call","against":"tarpc""#),
            "{json}"
        );
        assert!(
            json.contains(r#""ratio":1.2500,"p99_ratio":2.5000"#),
            "{json}"
        );
        assert!(
            json.contains(r#""ratio":3.0000,"p99_ratio":null"#),
            "{json}"
        );
        let table = report.table();
        assert!(table.contains("pinned: 1 CPU(s)"), "{table}");
        assert!(table.contains("call, vs tarpc"), "{table}");
    }
}
