using System.Buffers.Binary;

namespace WalShip.Wal;

/// <summary>Reads the cluster's identity from global/pg_control, whose first field is the system identifier.</summary>
public static class PgControl
{
    public static ulong? TryReadSystemIdentifier(string dataDirectory)
    {
        string path = Path.Join(dataDirectory, "global", "pg_control");
        try
        {
            using var handle = File.OpenHandle(path);
            Span<byte> bytes = stackalloc byte[8];
            if (RandomAccess.Read(handle, bytes, 0) != 8)
                return null;
            ulong id = BinaryPrimitives.ReadUInt64LittleEndian(bytes);
            return id == 0 ? null : id;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }
}
