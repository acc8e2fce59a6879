use super::layout::{flags, Kind, Msg, GROUP_TYPE_LONG, GROUP_TYPE_SHORT};
use super::*;
use core::ffi::{c_char, c_int, c_void, CStr};
use core::sync::atomic::{AtomicUsize, Ordering};

// The unsafe readers, for messages these tests keep live (M1-M6).
fn size(msg: &Msg) -> Option<usize> {
    // SAFETY: the tests pass only live messages.
    unsafe { super::size(msg) }
}
fn get(msg: &Msg, property: c_int) -> Result<c_int> {
    // SAFETY: as above.
    unsafe { super::get(msg, property) }
}
fn group(msg: &Msg) -> *const c_char {
    // SAFETY: as above.
    unsafe { super::group(msg) }
}
fn set_group(msg: &mut Msg, name: &CStr) -> Result<()> {
    // SAFETY: as above.
    unsafe { super::set_group(msg, name.to_bytes()) }
}

fn new_msg() -> Msg {
    let mut msg = EMPTY;
    init(&mut msg);
    msg
}

#[test]
fn init_makes_an_empty_inline_message() {
    let msg = new_msg();
    assert_eq!(msg.kind, Kind::Vsm as u8);
    assert_eq!(size(&msg), Some(0));
    assert!(!more(&msg));
    assert_eq!(get(&msg, ZMQ_SHARED), Ok(0));
}

#[test]
fn bodies_up_to_33_bytes_are_inline_and_larger_ones_are_zclmsg() {
    let mut msg = new_msg();
    init_size(&mut msg, 33).unwrap();
    assert_eq!(msg.kind, Kind::Vsm as u8);
    assert_eq!(msg.vsm_size, 33);
    // SAFETY: msg is live.
    unsafe { close(&mut msg).unwrap() };

    init_size(&mut msg, 34).unwrap();
    assert_eq!(msg.kind, Kind::Zclmsg as u8);
    assert_eq!(size(&msg), Some(34));
    // SAFETY: msg is live.
    let body = unsafe { data(&mut msg) } as usize;
    assert_eq!(body % 16, 0, "bodies are 16-byte aligned");
    // SAFETY: msg is live.
    unsafe { close(&mut msg).unwrap() };
}

#[test]
fn closing_twice_reports_efault() {
    let mut msg = new_msg();
    init_size(&mut msg, 100).unwrap();
    // SAFETY: msg is live, then closed (type 0), which close rejects.
    unsafe {
        assert_eq!(close(&mut msg), Ok(()));
        assert_eq!(close(&mut msg), Err(Errno(libc::EFAULT)));
    }
}

#[test]
fn copy_shares_the_body_and_counts_references() {
    let mut a = new_msg();
    let mut b = new_msg();
    let mut c = new_msg();
    init_size(&mut a, 1000).unwrap();
    // SAFETY: all three messages are live and distinct.
    unsafe {
        copy_to(&mut b, &mut a).unwrap();
        copy_to(&mut c, &mut a).unwrap();
        assert_eq!(data(&mut a), data(&mut b));
        assert_eq!(a.flags & flags::SHARED, flags::SHARED);
        assert_eq!((*a.content()).refcnt.load(Ordering::Relaxed), 3);
        close(&mut a).unwrap();
        close(&mut b).unwrap();
        assert_eq!((*c.content()).refcnt.load(Ordering::Relaxed), 1);
        close(&mut c).unwrap();
    }
}

#[test]
fn copying_an_inline_message_copies_its_bytes() {
    let mut a = new_msg();
    let mut b = new_msg();
    // SAFETY: the buffer is 5 readable bytes; both messages are live.
    unsafe {
        init_buffer(&mut a, b"hello".as_ptr() as *const c_void, 5).unwrap();
        copy_to(&mut b, &mut a).unwrap();
        assert_ne!(data(&mut a), data(&mut b));
        assert_eq!(
            core::slice::from_raw_parts(data(&mut b) as *const u8, 5),
            b"hello"
        );
        assert_eq!(get(&b, ZMQ_SHARED), Ok(0));
    }
}

#[test]
fn move_leaves_the_source_empty() {
    let mut a = new_msg();
    let mut b = new_msg();
    init_size(&mut a, 500).unwrap();
    // SAFETY: both live and distinct.
    unsafe {
        let body = data(&mut a);
        move_to(&mut b, &mut a).unwrap();
        assert_eq!(data(&mut b), body);
        assert_eq!(size(&a), Some(0));
        close(&mut a).unwrap();
        close(&mut b).unwrap();
    }
}

#[test]
fn move_from_a_closed_message_is_efault_and_leaves_dest_alone() {
    let mut a = new_msg();
    let mut b = new_msg();
    init_size(&mut b, 64).unwrap();
    // SAFETY: a is closed (invalid), b is live.
    unsafe {
        close(&mut a).unwrap();
        assert_eq!(move_to(&mut b, &mut a), Err(Errno(libc::EFAULT)));
        assert_eq!(size(&b), Some(64));
        close(&mut b).unwrap();
    }
}

static FREED: AtomicUsize = AtomicUsize::new(0);
static FREED_HINT: AtomicUsize = AtomicUsize::new(0);

unsafe extern "C" fn count_free(data: *mut c_void, hint: *mut c_void) {
    FREED.fetch_add(1, Ordering::SeqCst);
    FREED_HINT.store(hint as usize, Ordering::SeqCst);
    // SAFETY: the test hands over a Box<[u8; 64]>.
    drop(unsafe { Box::from_raw(data as *mut [u8; 64]) });
}

#[test]
fn init_data_calls_the_free_function_once_with_data_and_hint() {
    let buffer = Box::into_raw(Box::new([7u8; 64])) as *mut c_void;
    let mut a = new_msg();
    let mut b = new_msg();
    init_data(&mut a, buffer, 64, Some(count_free), 0x1234 as *mut c_void).unwrap();
    assert_eq!(a.kind, Kind::Zclmsg as u8);
    // SAFETY: both live and distinct.
    unsafe {
        assert_eq!(data(&mut a), buffer);
        copy_to(&mut b, &mut a).unwrap();
        close(&mut a).unwrap();
        assert_eq!(FREED.load(Ordering::SeqCst), 0);
        close(&mut b).unwrap();
    }
    assert_eq!(FREED.load(Ordering::SeqCst), 1);
    assert_eq!(FREED_HINT.load(Ordering::SeqCst), 0x1234);
}

#[test]
fn init_data_without_free_function_is_a_constant_message() {
    static BYTES: [u8; 4] = *b"abcd";
    let mut msg = new_msg();
    init_data(
        &mut msg,
        BYTES.as_ptr() as *mut c_void,
        4,
        None,
        core::ptr::null_mut(),
    )
    .unwrap();
    assert_eq!(msg.kind, Kind::Cmsg as u8);
    assert_eq!(size(&msg), Some(4));
    assert_eq!(get(&msg, ZMQ_SHARED), Ok(1));
}

#[test]
fn null_data_with_a_size_is_einval() {
    let mut msg = new_msg();
    assert_eq!(
        init_data(
            &mut msg,
            core::ptr::null_mut(),
            1,
            None,
            core::ptr::null_mut()
        ),
        Err(Errno(libc::EINVAL))
    );
    // SAFETY: null is allowed by init_buffer's contract and rejected.
    let result = unsafe { init_buffer(&mut msg, core::ptr::null(), 1) };
    assert_eq!(result, Err(Errno(libc::EINVAL)));
}

#[test]
fn huge_sizes_are_enomem() {
    let mut msg = new_msg();
    assert_eq!(init_size(&mut msg, usize::MAX), Err(Errno(libc::ENOMEM)));
    assert_eq!(
        init_size(&mut msg, usize::MAX - 40),
        Err(Errno(libc::ENOMEM))
    );
}

#[test]
fn unknown_properties_are_einval_and_srcfd_without_metadata_is_einval() {
    let msg = new_msg();
    assert_eq!(get(&msg, 99), Err(Errno(libc::EINVAL)));
    assert_eq!(get(&msg, ZMQ_SRCFD), Err(Errno(libc::EINVAL)));
    // SAFETY: the property is a C string literal.
    let socket_type = unsafe { gets(&msg, c"Socket-Type".as_ptr()) };
    assert_eq!(socket_type, Err(Errno(libc::EINVAL)));
}

#[test]
fn routing_id_zero_is_rejected() {
    let mut msg = new_msg();
    assert_eq!(set_routing_id(&mut msg, 0), Err(Errno(libc::EINVAL)));
    set_routing_id(&mut msg, 0xDEADBEEF).unwrap();
    assert_eq!(routing_id(&msg), 0xDEADBEEF);
}

fn group_of(msg: &Msg) -> &CStr {
    // SAFETY: group() always returns a NUL-terminated string owned by msg.
    unsafe { CStr::from_ptr(group(msg)) }
}

#[test]
fn short_groups_live_inline_and_long_ones_in_a_shared_block() {
    let mut a = new_msg();
    let mut b = new_msg();
    set_group(&mut a, c"fourteen-chars").unwrap();
    assert_eq!(a.group.kind, GROUP_TYPE_SHORT);
    assert_eq!(group_of(&a), c"fourteen-chars");

    let long = c"a group name of more than fourteen bytes";
    set_group(&mut a, long).unwrap();
    assert_eq!(a.group.kind, GROUP_TYPE_LONG);
    assert_eq!(group_of(&a), long);
    // SAFETY: both live and distinct.
    unsafe {
        copy_to(&mut b, &mut a).unwrap();
        assert_eq!(group(&a), group(&b), "copies share the long group");
        close(&mut a).unwrap();
        assert_eq!(group_of(&b), long);
        close(&mut b).unwrap();
    }
}

#[test]
fn replacing_a_long_group_with_a_short_one_keeps_the_message_sound() {
    let mut msg = new_msg();
    set_group(&mut msg, c"a group name of more than fourteen bytes").unwrap();
    set_group(&mut msg, c"short").unwrap();
    assert_eq!(msg.group.kind, GROUP_TYPE_SHORT);
    assert_eq!(group_of(&msg), c"short");
    // SAFETY: live message.
    unsafe { close(&mut msg).unwrap() };
}

/// libzmq 4.3.x reads at most 255 characters of a group name and takes
/// that prefix: a drop-in must not fail where libzmq succeeds.
#[test]
fn groups_over_255_bytes_are_cut_to_255_as_libzmq_does() {
    let mut msg = new_msg();
    let name = std::ffi::CString::new(vec![b'g'; 300]).unwrap();
    set_group(&mut msg, &name).unwrap();
    assert_eq!(group_of(&msg).to_bytes(), &[b'g'; 255][..]);
    let name = std::ffi::CString::new(vec![b'h'; 255]).unwrap();
    set_group(&mut msg, &name).unwrap();
    assert_eq!(group_of(&msg), name.as_c_str());
    // SAFETY: live message.
    unsafe { close(&mut msg).unwrap() };
}

/// Closing releases a long group and leaves the group short, so nothing
/// can release it again; set_group refuses the closed message.
#[test]
fn a_closed_message_holds_no_long_group() {
    let mut msg = new_msg();
    set_group(&mut msg, c"a group name of more than fourteen bytes").unwrap();
    // SAFETY: live message, closed once.
    unsafe { close(&mut msg).unwrap() };
    assert_eq!(msg.group.kind, GROUP_TYPE_SHORT);
    // A closed message is refused (libzmq would write into it).
    assert_eq!(
        set_group(&mut msg, c"another group name over fourteen bytes"),
        Err(Errno(libc::EFAULT))
    );
    assert_eq!(set_group(&mut msg, c"x"), Err(Errno(libc::EFAULT)));
    assert_eq!(msg.group.kind, GROUP_TYPE_SHORT);
}

/// A failed init leaves an empty message that closes cleanly, whatever the
/// 64 bytes held before (libzmq leaves a stale type byte behind).
#[test]
fn a_failed_init_leaves_an_empty_closable_message() {
    let mut msg = new_msg();
    msg.kind = Kind::Zclmsg as u8;
    msg.set_content(0xDEAD_BEEF as *mut layout::Content);
    assert_eq!(init_size(&mut msg, usize::MAX), Err(Errno(libc::ENOMEM)));
    assert_eq!(msg.kind, Kind::Vsm as u8);
    // SAFETY: the failed init left a valid empty message.
    unsafe { close(&mut msg).unwrap() };
    msg.kind = Kind::Zclmsg as u8;
    msg.set_content(0xDEAD_BEEF as *mut layout::Content);
    let refused = {
        // SAFETY: a null buffer with a size is refused before it is read.
        unsafe { init_buffer(&mut msg, core::ptr::null(), 10) }
    };
    assert_eq!(refused, Err(Errno(libc::EINVAL)));
    // SAFETY: as above.
    unsafe { close(&mut msg).unwrap() };
}

#[test]
fn a_zclmsg_closed_on_another_thread_returns_its_block() {
    let mut msg = new_msg();
    init_size(&mut msg, 8192).unwrap();
    let message = Message::from_slice(&[1u8; 8192]).unwrap();
    // SAFETY: msg is live; ownership moves into the Message.
    let adopted = unsafe { Message::from_raw(core::ptr::read(&msg)) };
    std::thread::spawn(move || {
        assert_eq!(message.as_slice(), &[1u8; 8192][..]);
        drop(message);
        drop(adopted);
    })
    .join()
    .unwrap();
}

#[test]
fn safe_message_clones_share_and_drop_cleanly() {
    let mut original = Message::with_size(100).unwrap();
    assert!(original.as_slice().iter().all(|&b| b == 0));
    original.as_mut_slice().unwrap()[99] = 42;
    let mut clone = original.clone();
    assert!(original.is_shared() && clone.is_shared());
    assert_eq!(clone.as_slice()[99], 42);
    assert_eq!(clone.as_slice().as_ptr(), original.as_slice().as_ptr());
    // Shared: neither side may write (the other may be reading).
    assert!(original.as_mut_slice().is_none());
    assert!(clone.as_mut_slice().is_none());
    drop(original);
    assert_eq!(clone.len(), 100);
    // The other holder is gone: writable again.
    clone.as_mut_slice().unwrap()[0] = 7;
    assert_eq!(clone.as_slice()[0], 7);
}

#[test]
fn a_constant_body_is_never_writable() {
    static TEXT: [u8; 64] = [b'x'; 64];
    let mut msg = crate::msg::EMPTY;
    // TEXT lives forever; no free function: a constant message.
    crate::msg::init_data(
        &mut msg,
        TEXT.as_ptr() as *mut _,
        TEXT.len(),
        None,
        core::ptr::null_mut(),
    )
    .unwrap();
    // SAFETY: msg was just initialised; the Message owns it from here.
    let mut message = unsafe { Message::from_raw(msg) };
    assert_eq!(message.as_slice(), &TEXT[..]);
    assert!(message.as_mut_slice().is_none());
}

#[test]
fn safe_small_messages_read_back_their_bytes() {
    let message = Message::from_slice(b"tiny").unwrap();
    assert_eq!(message.as_slice(), b"tiny");
    assert_eq!(message.clone().as_slice(), b"tiny");
    assert!(Message::new().is_empty());
}

/// A short group name always ends in a NUL inside the message, whatever
/// the safe caller passes: 15 bytes (no room for the NUL) and more are cut
/// to 14, and nothing panics.
#[test]
fn a_short_group_name_always_keeps_its_nul() {
    for len in [14usize, 15, 16, 40] {
        let mut msg = EMPTY;
        let name = vec![b'g'; len];
        msg.group.set_short(&name);
        let bytes = msg.group.short_name();
        assert_eq!(bytes[14], 0, "{len} bytes");
        assert_eq!(group_of(&msg).to_bytes(), &name[..len.min(14)]);
    }
}
