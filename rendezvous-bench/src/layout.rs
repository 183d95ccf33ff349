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
    /// later) on the CPUs of `layout`; how many CPUs that is. A thread
    /// being created while this runs may keep its creator's CPUs: the
    /// bench sets layouts only once its thread pools are running.
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

#[cfg(test)]
mod tests {
    use super::*;

    fn cpus_of_this_thread() -> usize {
        let set = sched_getaffinity(Pid::from_raw(0)).expect("read this thread's CPUs");
        (0..CpuSet::count())
            .filter(|&cpu| set.is_set(cpu).unwrap_or(false))
            .count()
    }

    /// Pinned puts every thread on one CPU, those that already run and
    /// those started later; unpinned gives back what the process had.
    #[test]
    fn pinned_puts_every_thread_on_one_cpu_and_unpinned_gives_them_all_back() {
        let cpus = Cpus::at_start().expect("read the CPUs");
        let started_with = cpus_of_this_thread();
        let (ask, asked) = std::sync::mpsc::channel::<()>();
        let (tell, told) = std::sync::mpsc::channel();
        let running = std::thread::spawn(move || {
            tell.send(cpus_of_this_thread()).expect("tell");
            while asked.recv().is_ok() {
                tell.send(cpus_of_this_thread()).expect("tell");
            }
        });
        // Running before the layout is set, as the bench's threads are.
        assert_eq!(told.recv().expect("told"), started_with);
        assert_eq!(cpus.apply(Layout::Pinned).expect("pin"), 1);
        assert_eq!(cpus_of_this_thread(), 1);
        ask.send(()).expect("ask");
        assert_eq!(told.recv().expect("told"), 1, "a thread already running");
        let later = std::thread::spawn(cpus_of_this_thread)
            .join()
            .expect("join");
        assert_eq!(later, 1, "a thread started later");
        assert_eq!(cpus.apply(Layout::Unpinned).expect("unpin"), started_with);
        ask.send(()).expect("ask");
        assert_eq!(told.recv().expect("told"), started_with);
        drop(ask);
        running.join().expect("join");
    }
}
