//! Serves the inventory on an OS-chosen port, with a few items in stock,
//! until Ctrl-C. The matchmaker is `RENDEZVOUS_MATCHMAKER` (default
//! `127.0.0.1:5000`).

use futures_lite::future::block_on;
use rendezvous_core::Server;
use std::process::ExitCode;

fn main() -> ExitCode {
    let (stop, stopped) = async_channel::bounded::<()>(1);
    if let Err(error) = ctrlc::set_handler(move || {
        let _ = stop.try_send(());
    }) {
        eprintln!("inventory-server: could not install the signal handler: {error}");
        return ExitCode::FAILURE;
    }
    block_on(async {
        let started = Server::builder()
            // The state every procedure takes as `State<Inventory>`.
            .state(inventory_service::sample())
            // What this server must carry; naming it links the crate.
            .require(inventory_service::SERVICE)
            .start()
            .await;
        let server = match started {
            Ok(server) => server,
            Err(error) => {
                eprintln!("inventory-server: {error}");
                return ExitCode::FAILURE;
            }
        };
        println!("inventory-server listening on {}", server.local_addr());
        for procedure in server.procedures() {
            println!("  {}  {}", procedure.name(), procedure.signature());
        }
        let _ = stopped.recv().await;
        server.shutdown().await;
        ExitCode::SUCCESS
    })
}
