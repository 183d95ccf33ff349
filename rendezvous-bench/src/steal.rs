//! CPU time the hypervisor gave to other guests while this one wanted it
//! (`steal` in `/proc/stat`). On a shared VM a stolen vCPU stops whatever
//! ran on it for milliseconds: a run that lost much of its CPU time so
//! measured a busier machine than its figures say, and the throughput rows
//! with many calls in flight move most (measured: 64 in flight, unpinned,
//! 46k-69k calls in 1 s when ~40% was stolen, 120k-160k when ~15%). Each
//! layout reports its share, so runs can be told apart.

/// The machine's CPU time so far, in clock ticks: stolen, and in all.
#[derive(Clone, Copy, Debug)]
pub struct CpuTime {
    stolen: u64,
    total: u64,
}

impl CpuTime {
    /// Now, if `/proc/stat` can be read (Linux).
    pub fn now() -> Option<CpuTime> {
        let stat = std::fs::read_to_string("/proc/stat").ok()?;
        parse(stat.lines().next()?)
    }

    /// The share of CPU time stolen since `self`, in percent.
    pub fn stolen_percent_since(&self) -> Option<f64> {
        let now = CpuTime::now()?;
        let total = now.total.checked_sub(self.total)?;
        let stolen = now.stolen.checked_sub(self.stolen)?;
        (total > 0).then(|| stolen as f64 * 100.0 / total as f64)
    }
}

/// The `cpu` line of `/proc/stat`: user, nice, system, idle, iowait, irq,
/// softirq, steal (then guest time, already counted in user).
fn parse(line: &str) -> Option<CpuTime> {
    let mut fields = line.split_whitespace();
    if fields.next()? != "cpu" {
        return None;
    }
    let ticks: Vec<u64> = fields
        .take(8)
        .map(|f| f.parse().ok())
        .collect::<Option<_>>()?;
    let stolen = *ticks.get(7)?;
    Some(CpuTime {
        stolen,
        total: ticks.iter().sum(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cpu_line_gives_steal_and_the_total() {
        let time = parse("cpu  100 5 50 800 10 1 4 30 0 0").expect("a cpu line");
        assert_eq!((time.stolen, time.total), (30, 1000));
        assert!(parse("cpu0 1 2 3 4 5 6 7 8").is_none());
        assert!(parse("cpu  1 2 3").is_none());
    }

    #[test]
    fn a_share_is_read_from_this_machine() {
        let start = CpuTime::now().expect("/proc/stat");
        std::thread::sleep(std::time::Duration::from_millis(50));
        let share = start.stolen_percent_since().expect("a share");
        assert!((0.0..=100.0).contains(&share), "{share}");
    }
}
