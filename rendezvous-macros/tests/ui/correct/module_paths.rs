// Argument types named relative to the function's module resolve the same
// in the proxy.
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize)]
pub struct Point {
    pub x: i64,
    pub y: i64,
}

pub mod outer {
    use serde::{Deserialize, Serialize};

    #[derive(Serialize, Deserialize)]
    pub struct Point {
        pub x: f64,
        pub y: f64,
    }

    pub mod inner {
        use rendezvous_core::procedure;

        #[procedure]
        pub async fn from_parent(point: super::Point) -> super::Point {
            point
        }

        #[procedure]
        pub async fn from_root(point: crate::Point, scale: self::Scale) -> crate::Point {
            crate::Point {
                x: point.x * scale.0,
                y: point.y * scale.0,
            }
        }

        #[derive(serde::Serialize, serde::Deserialize)]
        pub struct Scale(pub i64);
    }

    pub mod deeper {
        pub mod deepest {
            use rendezvous_core::procedure;

            #[procedure]
            pub async fn up_two(point: super::super::Point) -> self::Meters {
                self::Meters(point.x)
            }

            #[derive(serde::Serialize, serde::Deserialize)]
            pub struct Meters(pub f64);
        }
    }
}

async fn call_them(client: &rendezvous_core::Client) -> Result<(), rendezvous_core::Error> {
    let _: outer::Point =
        outer::inner::from_parent::remote_with(client, outer::Point { x: 1.0, y: 2.0 }).await?;
    let _: Point =
        outer::inner::from_root::remote_with(client, Point { x: 1, y: 2 }, outer::inner::Scale(3))
            .await?;
    let _: outer::deeper::deepest::Meters =
        outer::deeper::deepest::up_two::remote(outer::Point { x: 1.0, y: 2.0 }).await?;
    Ok(())
}

fn main() {
    let _ = call_them;
}
