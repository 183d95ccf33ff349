//! Process layouts: every thread of the process on one CPU (pinned), or on
//! all the CPUs it was started with (unpinned, the scheduling every user
//! gets). Set from inside, with `sched_setaffinity` on each thread, so one
//! run measures both, each layout against its own baselines.

use nix::sched::{CpuSet, sched_getaffinity, sched_setaffinity};
use nix::unistd::Pid;
use std::io;

/// Where the process's threads may run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Layout {
    /// Every thread on the first CPU the process may use (as `taskset -c
    /// 0` would): client and server share it, no wake-up crosses CPUs.
    Pinned,
    /// Every thread on every CPU the process was started with.
    Unpinned,
}

impl Layout {
    pub fn name(self) -> &'static str {
        match self {
            Layout::Pinned => "pinned",
            Layout::Unpinned => "unpinned",
        }
    }
}

/// The CPUs the process was started with, and the setting of layouts.
#[derive(Debug)]
pub struct Cpus {
    started_with: CpuSet,
}

impl Cpus {
    /// Reads the CPUs the process may use now. Call it before any thread
    /// is started, so that it sees what the process was started with.
    pub fn at_start() -> io::Result<Cpus> {
        let started_with = sched_getaffinity(Pid::from_raw(0)).map_err(io::Error::from)?;
        Ok(Cpus { started_with })
    }

    /// Puts every thread of the process (and so every thread they start
    /// later) on the CPUs of `layout`; how many CPUs that is.
    pub fn apply(&self, layout: Layout) -> io::Result<usize> {
        let cpus: Vec<usize> = (0..CpuSet::count())
            .filter(|&cpu| self.started_with.is_set(cpu).unwrap_or(false))
            .collect();
        let chosen = match layout {
            Layout::Pinned => &cpus[..cpus.len().min(1)],
            Layout::Unpinned => &cpus[..],
        };
        let mut set = CpuSet::new();
        for &cpu in chosen {
            set.set(cpu).map_err(io::Error::from)?;
        }
        for entry in std::fs::read_dir("/proc/self/task")? {
            let Some(thread) = entry?.file_name().to_str().and_then(|t| t.parse().ok()) else {
                continue;
            };
            match sched_setaffinity(Pid::from_raw(thread), &set) {
                // A thread that ended since the directory was read.
                Ok(()) | Err(nix::errno::Errno::ESRCH) => {}
                Err(error) => {
                    return Err(io::Error::other(format!(
                        "could not set the CPUs of thread {thread} for the {} layout: {error}",
                        layout.name()
                    )));
                }
            }
        }
        Ok(chosen.len())
    }
}
