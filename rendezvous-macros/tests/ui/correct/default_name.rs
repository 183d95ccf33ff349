use rendezvous_core::procedure;

mod math {
    use rendezvous_core::procedure;

    #[procedure]
    pub async fn add(a: i64, b: i64) -> i64 {
        a + b
    }
}

#[procedure]
pub async fn top() {}

const fn same(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

// The default name is the module path and the function name.
const _: () = assert!(same(
    math::add::NAME,
    concat!(module_path!(), "::math::add")
));
const _: () = assert!(same(top::NAME, concat!(module_path!(), "::top")));

fn main() {}
