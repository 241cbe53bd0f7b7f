namespace WalShip.Cli;

/// <summary>The command line or the configuration is wrong; the message says how.</summary>
public sealed class UsageException(string message) : Exception(message);
