//! Networking. AF_UNIX sockets, paired (socketpair) and named in the
//! guest's own namespaces (bind, listen, connect, accept), with passing
//! of files and credentials; AF_INET and AF_INET6 TCP and UDP sockets on
//! a loopback network private to the VM (127.0.0.0/8 and ::1 on `lo`),
//! from which nothing reaches the host's network.

pub mod inet;
pub mod unix;
