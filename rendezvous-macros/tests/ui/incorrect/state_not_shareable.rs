use rendezvous_core::{State, procedure};
use std::cell::Cell;
use std::rc::Rc;

#[procedure]
pub async fn count(counter: State<Rc<Cell<u64>>>) -> u64 {
    counter.get()
}

fn main() {}
