using System.Buffers;

namespace WalShip.Pipeline;

/// <summary>
/// A growable byte buffer made of pooled 1 MiB chunks: the end of the push pipeline, and the body the
/// storage layer uploads (whole or one part at a time). Nothing is copied to grow it, and its chunks go
/// back to the pool on Dispose.
/// </summary>
public sealed class PooledBuffer : IByteFilter, IDisposable
{
    public const int ChunkSize = 1 << 20;
    private readonly List<byte[]> _chunks = [];
    private long _length;

    public long Length => _length;

    public void Write(ReadOnlySpan<byte> data)
    {
        while (!data.IsEmpty)
        {
            int offset = (int)(_length % ChunkSize);
            if (offset == 0 && _length / ChunkSize == _chunks.Count)
                _chunks.Add(ArrayPool<byte>.Shared.Rent(ChunkSize));
            byte[] chunk = _chunks[(int)(_length / ChunkSize)];
            int take = Math.Min(ChunkSize - offset, data.Length);
            data[..take].CopyTo(chunk.AsSpan(offset));
            data = data[take..];
            _length += take;
        }
    }

    public void Complete() { }

    /// <summary>Replaces bytes already written, e.g. a header reserved before its values were known.</summary>
    public void Overwrite(long offset, ReadOnlySpan<byte> data)
    {
        if (offset < 0 || offset + data.Length > _length)
            throw new ArgumentOutOfRangeException(nameof(offset), "can only overwrite bytes already written");
        while (!data.IsEmpty)
        {
            int inChunk = (int)(offset % ChunkSize);
            int take = Math.Min(ChunkSize - inChunk, data.Length);
            data[..take].CopyTo(_chunks[(int)(offset / ChunkSize)].AsSpan(inChunk));
            data = data[take..];
            offset += take;
        }
    }

    /// <summary>Copies out [offset, offset + destination.Length); returns how many bytes were available.</summary>
    public int CopyTo(long offset, Span<byte> destination)
    {
        int copied = 0;
        while (copied < destination.Length && offset < _length)
        {
            byte[] chunk = _chunks[(int)(offset / ChunkSize)];
            int inChunk = (int)(offset % ChunkSize);
            int take = (int)Math.Min(Math.Min(ChunkSize - inChunk, destination.Length - copied), _length - offset);
            chunk.AsSpan(inChunk, take).CopyTo(destination[copied..]);
            copied += take;
            offset += take;
        }
        return copied;
    }

    /// <summary>Feeds [offset, offset + count) to a filter, chunk by chunk, without copying.</summary>
    public void WriteTo(IByteFilter filter, long offset = 0, long count = -1)
    {
        long end = count < 0 ? _length : Math.Min(_length, offset + count);
        while (offset < end)
        {
            int inChunk = (int)(offset % ChunkSize);
            int take = (int)Math.Min(ChunkSize - inChunk, end - offset);
            filter.Write(_chunks[(int)(offset / ChunkSize)].AsSpan(inChunk, take));
            offset += take;
        }
    }

    /// <summary>A seekable read-only view of [offset, offset + length), as HTTP clients want a body.</summary>
    public Stream OpenRead(long offset = 0, long length = -1) =>
        new SliceStream(this, offset, length < 0 ? _length - offset : length);

    public void Dispose()
    {
        foreach (var chunk in _chunks)
            ArrayPool<byte>.Shared.Return(chunk);
        _chunks.Clear();
        _length = 0;
    }

    private sealed class SliceStream(PooledBuffer buffer, long start, long length) : Stream
    {
        private long _position;

        public override bool CanRead => true;
        public override bool CanSeek => true;
        public override bool CanWrite => false;
        public override long Length => length;

        public override long Position
        {
            get => _position;
            set => _position = value is >= 0 ? value : throw new ArgumentOutOfRangeException(nameof(value));
        }

        public override int Read(byte[] destination, int offset, int count) => Read(destination.AsSpan(offset, count));

        public override int Read(Span<byte> destination)
        {
            if (_position >= length)
                return 0;
            int want = (int)Math.Min(destination.Length, length - _position);
            int read = buffer.CopyTo(start + _position, destination[..want]);
            _position += read;
            return read;
        }

        public override ValueTask<int> ReadAsync(Memory<byte> destination, CancellationToken cancellationToken = default) =>
            ValueTask.FromResult(Read(destination.Span));

        public override Task<int> ReadAsync(byte[] destination, int offset, int count, CancellationToken cancellationToken) =>
            Task.FromResult(Read(destination.AsSpan(offset, count)));

        public override long Seek(long offset, SeekOrigin origin)
        {
            Position = origin switch
            {
                SeekOrigin.Begin => offset,
                SeekOrigin.Current => _position + offset,
                _ => length + offset,
            };
            return _position;
        }

        public override void Flush() { }
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] source, int offset, int count) => throw new NotSupportedException();
    }
}
