//! The inventory end to end: a real matchmaker and server on loopback,
//! called through the proxies, which take only the arguments that travel.

use futures_lite::future::block_on;
use inventory_service::{InventoryError, Item, calls, get, list, sample, stock, take};
use rendezvous_core::{Client, Error, Server};
use rendezvous_daemon::Matchmaker;
use std::net::SocketAddr;

async fn serve(with_state: bool) -> Result<(Matchmaker, Server, Client), Error> {
    let loopback: SocketAddr = "127.0.0.1:0".parse().expect("an address");
    let matchmaker = Matchmaker::bind(loopback).await.expect("a matchmaker");
    let mut builder = Server::builder()
        .bind(loopback)
        .matchmaker(matchmaker.local_addr())
        .require(inventory_service::SERVICE);
    if with_state {
        builder = builder.state(sample());
    }
    let server = builder.start().await?;
    let client = Client::builder()
        .bind(loopback)
        .matchmaker(matchmaker.local_addr())
        .build()
        .expect("a client");
    Ok((matchmaker, server, client))
}

#[test]
fn the_inventory_is_one_state_shared_by_every_call() {
    block_on(async {
        let (_matchmaker, server, client) = serve(true).await.expect("the server starts");
        let pen = get::remote_with(&client, "pen".into()).await.unwrap();
        assert_eq!(pen.map(|item| item.quantity), Ok(40));

        let receipt = take::remote_with(&client, "pen".into(), 15)
            .await
            .unwrap()
            .expect("in stock");
        assert_eq!(
            (receipt.taken, receipt.remaining, receipt.order),
            (15, 25, 1)
        );
        assert_eq!(receipt.caller, client.local_addr().unwrap().to_string());
        let again = take::remote_with(&client, "pen".into(), 5).await.unwrap();
        assert_eq!(again.map(|r| (r.remaining, r.order)), Ok((20, 2)));

        let refused = take::remote_with(&client, "ink".into(), 7).await.unwrap();
        assert_eq!(
            refused,
            Err(InventoryError::OutOfStock {
                sku: "ink".into(),
                available: 6,
                requested: 7
            })
        );
        let unknown = get::remote_with(&client, "cap".into()).await.unwrap();
        assert_eq!(unknown, Err(InventoryError::UnknownSku("cap".into())));

        let cap = Item {
            sku: "cap".into(),
            name: "Pen cap".into(),
            quantity: 3,
        };
        assert_eq!(stock::remote_with(&client, cap.clone()).await.unwrap(), 4);
        assert_eq!(stock::remote_with(&client, cap).await.unwrap(), 4);
        let skus: Vec<String> = list::remote_with(&client)
            .await
            .unwrap()
            .into_iter()
            .map(|item| item.sku)
            .collect();
        assert_eq!(skus, ["cap", "ink", "pad", "pen"]);
        // get, take, take, take, get, stock, stock, list, and this one.
        assert_eq!(calls::remote_with(&client).await.unwrap(), 9);
        server.shutdown().await;
    });
}

#[test]
fn a_server_not_given_the_inventory_refuses_to_start() {
    let reason = match block_on(serve(false)) {
        Err(Error::Configuration { reason }) => reason,
        Err(other) => panic!("expected a configuration error, got {other}"),
        Ok(_) => panic!("the server started without its state"),
    };
    assert!(
        reason.contains("State<inventory_service::Inventory>"),
        "{reason}"
    );
    assert!(reason.contains("inventory."), "{reason}");
}
