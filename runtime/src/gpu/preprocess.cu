// Frame preprocessing on the GPU: camera pixels (RGB3, GREY, YUYV, UYVY) to the trunk's
// normalised planar float input, in three kernels:
//
//   adapts_unpack        camera pixels -> packed RGB u8 (BT.601 limited range, 8.8 fixed point)
//   adapts_resize_rows   vertical pass of the antialiased triangle (bilinear) filter -> float
//   adapts_resize_cols   horizontal pass, rounded to u8, centre crop, (v - mean) / std, planar
//
// Each step repeats the CPU path's arithmetic operation for operation (runtime/src/camera/
// convert.rs for the pixels; the image crate's separable triangle resize that
// runtime/src/preprocess.rs calls: vertical pass first, kept in float, then horizontal,
// rounded half away from zero). Compiled by NVRTC with --fmad=false, so that no multiply-add
// is contracted, the results equal the CPU's to the bit. The unit tests compile this same
// file on the host with g++ (ADAPTS_HOST) and compare it with the CPU path on real images.

#ifndef ADAPTS_HOST
typedef unsigned char u8;
#endif

// Pixel formats, as numbered by runtime/src/gpu/kernels.rs.
#define ADAPTS_RGB3 0
#define ADAPTS_GREY 1
#define ADAPTS_YUYV 2
#define ADAPTS_UYVY 3

__device__ static u8 adapts_clip(int v)
{
    v = (v + 128) >> 8;
    return (u8)(v < 0 ? 0 : (v > 255 ? 255 : v));
}

extern "C" __global__ void adapts_unpack(const u8 *src, int format, int width, int height,
                                         int stride, u8 *rgb)
{
    int x = (int)(blockIdx.x * blockDim.x + threadIdx.x);
    int y = (int)(blockIdx.y * blockDim.y + threadIdx.y);
    if (x >= width || y >= height)
        return;
    const u8 *row = src + (long long)y * stride;
    u8 *out = rgb + ((long long)y * width + x) * 3;
    if (format == ADAPTS_RGB3) {
        out[0] = row[3 * x];
        out[1] = row[3 * x + 1];
        out[2] = row[3 * x + 2];
    } else if (format == ADAPTS_GREY) {
        out[0] = row[x];
        out[1] = row[x];
        out[2] = row[x];
    } else {
        const u8 *pair = row + (x / 2) * 4;
        int yuyv = format == ADAPTS_YUYV;
        int luma = yuyv ? ((x & 1) ? 2 : 0) : ((x & 1) ? 3 : 1);
        int c = 298 * ((int)pair[luma] - 16);
        int d = (int)pair[yuyv ? 1 : 0] - 128;
        int e = (int)pair[yuyv ? 3 : 2] - 128;
        out[0] = adapts_clip(c + 409 * e);
        out[1] = adapts_clip(c - 100 * d - 208 * e);
        out[2] = adapts_clip(c + 516 * d);
    }
}

__device__ static float adapts_triangle(float x)
{
    float a = fabsf(x);
    return a < 1.0f ? 1.0f - a : 0.0f;
}

// The triangle filter's output sample `out` when `size` samples become `new_size`: the sum
// over source samples i of src[i * step + c] * weight(i), for the three channels c, with
// the weights and the order of the additions of the CPU path.
template <typename T>
__device__ static void adapts_filter(const T *src, long long step, int out, int size,
                                     int new_size, float t[3])
{
    float ratio = (float)size / (float)new_size;
    float sratio = ratio < 1.0f ? 1.0f : ratio;
    float support = 1.0f * sratio;
    float input = ((float)out + 0.5f) * ratio;
    long long left = (long long)floorf(input - support);
    left = left < 0 ? 0 : (left > size - 1 ? size - 1 : left);
    long long right = (long long)ceilf(input + support);
    right = right < left + 1 ? left + 1 : (right > size ? size : right);
    float centre = input - 0.5f;
    float sum = 0.0f;
    for (long long i = left; i < right; i++)
        sum += adapts_triangle(((float)i - centre) / sratio);
    t[0] = t[1] = t[2] = 0.0f;
    for (long long i = left; i < right; i++) {
        float w = adapts_triangle(((float)i - centre) / sratio) / sum;
        const T *p = src + i * step;
        t[0] += (float)p[0] * w;
        t[1] += (float)p[1] * w;
        t[2] += (float)p[2] * w;
    }
}

// Rows top .. top + rows of the image resized to new_height (all `width` columns), as
// float RGB: tmp[(r * width + x) * 3 + channel].
extern "C" __global__ void adapts_resize_rows(const u8 *rgb, int width, int height,
                                              int new_height, int top, int rows, float *tmp)
{
    int x = (int)(blockIdx.x * blockDim.x + threadIdx.x);
    int r = (int)(blockIdx.y * blockDim.y + threadIdx.y);
    if (x >= width || r >= rows)
        return;
    adapts_filter(rgb + (long long)x * 3, (long long)width * 3, top + r, height, new_height,
                  tmp + ((long long)r * width + x) * 3);
}

__device__ static float adapts_to_u8(float t)
{
    t = t < 0.0f ? 0.0f : (t > 255.0f ? 255.0f : t);
    return roundf(t);
}

// Columns left .. left + crop of `tmp` resized to new_width, rounded to u8 values and
// normalised: out[channel * rows * crop + r * crop + c] = (v - mean[channel]) / stdev[channel].
extern "C" __global__ void adapts_resize_cols(const float *tmp, int width, int rows,
                                              int new_width, int left, int crop,
                                              const float *norm, float *out)
{
    int c = (int)(blockIdx.x * blockDim.x + threadIdx.x);
    int r = (int)(blockIdx.y * blockDim.y + threadIdx.y);
    if (c >= crop || r >= rows)
        return;
    float t[3];
    adapts_filter(tmp + (long long)r * width * 3, 3, left + c, width, new_width, t);
    long long plane = (long long)rows * crop;
    long long at = (long long)r * crop + c;
    out[at] = (adapts_to_u8(t[0]) - norm[0]) / norm[3];
    out[plane + at] = (adapts_to_u8(t[1]) - norm[1]) / norm[4];
    out[2 * plane + at] = (adapts_to_u8(t[2]) - norm[2]) / norm[5];
}
