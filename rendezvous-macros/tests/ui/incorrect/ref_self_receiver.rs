use rendezvous_core::procedure;

pub struct Counter {
    value: i64,
}

impl Counter {
    #[procedure]
    pub async fn get(&self) -> i64 {
        self.value
    }
}

fn main() {
    let _ = Counter { value: 1 }.get();
}
