//! Compiles `agent/v1/agent.proto` with protox (a protobuf compiler written in Rust, so no
//! `protoc` has to be installed) and generates the tonic client and server from it.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=agent/v1/agent.proto");
    let descriptors = protox::compile(["agent/v1/agent.proto"], ["."])?;
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        // The `Connect` RPC would collide with the generated `connect` constructor; the agent
        // builds its channel itself.
        .build_transport(false)
        // The hub stores and serves what agents report as JSON.
        .type_attribute(".", "#[derive(serde::Serialize)]")
        .type_attribute(".", "#[serde(rename_all = \"camelCase\")]")
        .compile_fds(descriptors)?;
    Ok(())
}
