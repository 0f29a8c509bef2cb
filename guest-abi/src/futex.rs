//! Futex operations, word bits and the robust list (include/uapi/linux/futex.h).

pub const FUTEX_WAIT: u32 = 0;
pub const FUTEX_WAKE: u32 = 1;
pub const FUTEX_REQUEUE: u32 = 3;
pub const FUTEX_LOCK_PI: u32 = 6;
pub const FUTEX_UNLOCK_PI: u32 = 7;
pub const FUTEX_TRYLOCK_PI: u32 = 8;
pub const FUTEX_WAIT_REQUEUE_PI: u32 = 11;
pub const FUTEX_CMP_REQUEUE_PI: u32 = 12;
pub const FUTEX_LOCK_PI2: u32 = 13;

pub const FUTEX_PRIVATE_FLAG: u32 = 128;
pub const FUTEX_CLOCK_REALTIME: u32 = 256;
/// The operation without its flags.
pub const FUTEX_CMD_MASK: u32 = !(FUTEX_PRIVATE_FLAG | FUTEX_CLOCK_REALTIME);

/// Bits of a PI or robust futex word: waiters in the kernel, owner died,
/// and the owner's thread id.
pub const FUTEX_WAITERS: u32 = 0x8000_0000;
pub const FUTEX_OWNER_DIED: u32 = 0x4000_0000;
pub const FUTEX_TID_MASK: u32 = 0x3fff_ffff;

/// struct robust_list_head: { list.next, futex_offset, list_op_pending }.
pub const ROBUST_LIST_HEAD_SIZE: u64 = 24;
/// The most entries the kernel walks (ROBUST_LIST_LIMIT): a guard against
/// circular lists.
pub const ROBUST_LIST_LIMIT: usize = 2048;

/// The PI operations: their words hold thread ids the kernel acts on.
pub const fn is_pi_cmd(cmd: u32) -> bool {
    matches!(
        cmd,
        FUTEX_LOCK_PI
            | FUTEX_UNLOCK_PI
            | FUTEX_TRYLOCK_PI
            | FUTEX_WAIT_REQUEUE_PI
            | FUTEX_CMP_REQUEUE_PI
            | FUTEX_LOCK_PI2
    )
}
