//! Reader for legacy (pre-1.6, non-zip) `torch.save` files.
//!
//! Layout: five consecutive pickles and raw storages — magic number, protocol version,
//! system info, the object (tensors refer to storages by persistent id), the list of storage
//! keys — then, for every key in that order, a little-endian `i64` element count followed by
//! the storage bytes. candle's pickle VM parses the object; this module parses the framing
//! and assembles tensors from the storages.

use std::collections::HashMap;
use std::io::{BufRead, Cursor};
use std::path::Path;

use candle_core::pickle::{Object, Stack};
use candle_core::{DType, Device, Tensor};

use crate::{Error, Result};

/// `torch.serialization.MAGIC_NUMBER` pickled with protocol 2 (`PROTO 2, LONG1 10 bytes, STOP`).
const MAGIC_PICKLE: [u8; 16] = [
    0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19, 0x2e, 0x80,
];

/// True when `head` starts like a legacy torch file.
pub fn is_legacy(head: &[u8]) -> bool {
    head.len() >= 15 && head[..15] == MAGIC_PICKLE[..15]
}

/// Reads every tensor of a legacy state dict, in file order.
pub fn read(bytes: &[u8]) -> Result<Vec<(String, Tensor)>> {
    let bad = Error::Checkpoint;
    if !is_legacy(bytes) {
        return Err(bad("not a legacy torch file (magic number missing)".into()));
    }
    let mut r = Cursor::new(&bytes[15..]);
    let _protocol = read_pickle(&mut r).map_err(|e| bad(format!("protocol version: {e}")))?;
    let _sys_info = read_pickle(&mut r).map_err(|e| bad(format!("system info: {e}")))?;
    let object = read_pickle(&mut r).map_err(|e| bad(format!("state dict pickle: {e}")))?;
    let keys = read_pickle(&mut r).map_err(|e| bad(format!("storage key list: {e}")))?;
    let keys: Vec<String> = match keys {
        Object::List(items) => items
            .into_iter()
            .map(|k| k.unicode().map_err(|o| bad(format!("storage key {o:?}"))))
            .collect::<Result<_>>()?,
        other => return Err(bad(format!("storage key list is {other:?}"))),
    };

    let entries = match object {
        Object::Dict(entries) => entries,
        Object::Build { callable, .. } => match *callable {
            Object::Dict(entries) => entries,
            other => {
                return Err(bad(format!(
                    "top-level object is not a state dict: {other:?}"
                )))
            }
        },
        other => {
            return Err(bad(format!(
                "top-level object is not a state dict: {other:?}"
            )))
        }
    };
    let mut infos = Vec::with_capacity(entries.len());
    for (name, value) in entries {
        match value.into_tensor_info(name, Path::new("")) {
            Ok(Some(info)) => infos.push(info),
            Ok(None) => {} // non-tensor entries such as `_metadata`
            Err(e) => return Err(bad(format!("tensor record: {e}"))),
        }
    }

    // Storages follow the pickles: i64 element count, then the raw little-endian data.
    let mut storages: HashMap<String, (usize, usize)> = HashMap::with_capacity(keys.len());
    let mut pos = 15 + r.position() as usize;
    let elem_sizes: HashMap<String, usize> = infos
        .iter()
        .map(|i| (storage_key(&i.path).to_string(), i.dtype.size_in_bytes()))
        .collect();
    for key in &keys {
        let count_bytes = bytes
            .get(pos..pos + 8)
            .ok_or_else(|| bad(format!("truncated before storage {key}")))?;
        let count = i64::from_le_bytes(count_bytes.try_into().unwrap_or([0; 8]));
        let elem = *elem_sizes
            .get(key)
            .ok_or_else(|| bad(format!("storage {key} is used by no tensor")))?;
        let len =
            usize::try_from(count).map_err(|_| bad(format!("storage {key} size {count}")))? * elem;
        pos += 8;
        if pos + len > bytes.len() {
            return Err(bad(format!(
                "storage {key} needs {len} bytes at offset {pos}, file has {}",
                bytes.len()
            )));
        }
        storages.insert(key.clone(), (pos, len));
        pos += len;
    }

    infos
        .into_iter()
        .map(|info| {
            let key = storage_key(&info.path);
            let &(start, len) = storages.get(key).ok_or_else(|| {
                bad(format!(
                    "tensor {} refers to missing storage {key}",
                    info.name
                ))
            })?;
            let storage = &bytes[start..start + len];
            let tensor = gather(storage, info.dtype, &info.layout)
                .map_err(|e| bad(format!("tensor {}: {e}", info.name)))?;
            Ok((info.name, tensor))
        })
        .collect()
}

fn storage_key(path: &str) -> &str {
    path.trim_start_matches('/')
}

fn read_pickle<R: BufRead>(r: &mut R) -> candle_core::Result<Object> {
    let mut stack = Stack::empty();
    stack.read_loop(r)?;
    stack.finalize()
}

/// Copies the elements a (possibly strided) view selects out of its storage.
fn gather(
    storage: &[u8],
    dtype: DType,
    layout: &candle_core::Layout,
) -> candle_core::Result<Tensor> {
    let elem = dtype.size_in_bytes();
    let shape = layout.shape().clone();
    let numel = shape.elem_count();
    let offset = layout.start_offset();
    if layout.is_contiguous() {
        let end = offset + numel * elem;
        let data = storage.get(offset..end).ok_or_else(|| {
            candle_core::Error::Msg(format!(
                "view ends at byte {end} past storage of {}",
                storage.len()
            ))
        })?;
        return Tensor::from_raw_buffer(data, dtype, shape.dims(), &Device::Cpu);
    }
    let dims = shape.dims();
    let strides = layout.stride();
    let mut out = Vec::with_capacity(numel * elem);
    let mut index = vec![0usize; dims.len()];
    for _ in 0..numel {
        let at = offset + index.iter().zip(strides).map(|(i, s)| i * s).sum::<usize>() * elem;
        let value = storage.get(at..at + elem).ok_or_else(|| {
            candle_core::Error::Msg(format!("strided view reads past storage at byte {at}"))
        })?;
        out.extend_from_slice(value);
        for d in (0..dims.len()).rev() {
            index[d] += 1;
            if index[d] < dims[d] {
                break;
            }
            index[d] = 0;
        }
    }
    Tensor::from_raw_buffer(&out, dtype, dims, &Device::Cpu)
}
