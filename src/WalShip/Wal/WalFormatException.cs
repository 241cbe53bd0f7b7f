namespace WalShip.Wal;

/// <summary>The bytes are not a valid WAL file for the name they were given.</summary>
public sealed class WalFormatException(string message) : Exception(message);
