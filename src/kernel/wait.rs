//! Wait queues, the kernel's way to park a thread until something changes.
//!
//! A handler that cannot finish (read on an empty pipe, wait4 with live
//! children) returns `Block` with the [`WaitId`]s it waits on; the event
//! loop parks the thread and re-runs the whole syscall when one of them is
//! woken. Objects that can make a waiter runnable (a pipe, the console)
//! hold a [`Waker`] and call `wake(id)` when their state changes.

use std::cell::RefCell;
use std::rc::Rc;

pub type WaitId = u64;

#[derive(Default)]
struct WakeState {
    next_id: WaitId,
    woken: Vec<WaitId>,
}

/// A handle to the kernel's list of woken wait queues.
#[derive(Clone, Default)]
pub struct Waker {
    inner: Rc<RefCell<WakeState>>,
}

impl Waker {
    pub fn new() -> Waker {
        Waker::default()
    }

    /// A fresh wait-queue id.
    pub fn new_id(&self) -> WaitId {
        let mut s = self.inner.borrow_mut();
        s.next_id += 1;
        s.next_id
    }

    pub fn wake(&self, id: WaitId) {
        let mut s = self.inner.borrow_mut();
        if !s.woken.contains(&id) {
            s.woken.push(id);
        }
    }

    /// Whether `id` was woken and its waiters have not run yet.
    pub fn is_woken(&self, id: WaitId) -> bool {
        self.inner.borrow().woken.contains(&id)
    }

    /// Takes the ids woken since the last call.
    pub fn take_woken(&self) -> Vec<WaitId> {
        std::mem::take(&mut self.inner.borrow_mut().woken)
    }

    pub fn has_woken(&self) -> bool {
        !self.inner.borrow().woken.is_empty()
    }
}
