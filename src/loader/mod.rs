//! ELF loader (work in progress).
