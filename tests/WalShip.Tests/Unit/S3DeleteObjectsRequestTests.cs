using System.Net;
using System.Net.Sockets;
using System.Text;
using Amazon.Runtime;
using WalShip.Storage;
using Xunit;

namespace WalShip.Tests.Unit;

/// <summary>
/// AWS refuses a DeleteObjects request without a body checksum (Content-MD5 or x-amz-checksum-*).
/// s3rver does not check, so this looks at the request itself, as the client sends it with walship's
/// settings (RequestChecksumCalculation WHEN_REQUIRED), on a one-shot loopback HTTP server.
/// </summary>
public sealed class S3DeleteObjectsRequestTests
{
    [Fact]
    public async Task DeleteObjects_CarriesABodyChecksumHeader_AndReportsPerKeyFailures()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        int port = ((IPEndPoint)listener.LocalEndpoint).Port;
        const string reply = """
            <?xml version="1.0" encoding="UTF-8"?>
            <DeleteResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Error><Key>b</Key><Code>AccessDenied</Code><Message>Access Denied</Message></Error></DeleteResult>
            """;
        var server = Task.Run(async () =>
        {
            using var client = await listener.AcceptTcpClientAsync();
            using var stream = client.GetStream();
            var request = new StringBuilder();
            var buffer = new byte[65536];
            while (!request.ToString().Contains("</Delete>", StringComparison.Ordinal))
            {
                int read = await stream.ReadAsync(buffer);
                if (read == 0)
                    break;
                request.Append(Encoding.UTF8.GetString(buffer, 0, read));
            }
            byte[] body = Encoding.UTF8.GetBytes(reply);
            await stream.WriteAsync(Encoding.ASCII.GetBytes($"HTTP/1.1 200 OK\r\nContent-Type: application/xml\r\nContent-Length: {body.Length}\r\nConnection: close\r\n\r\n"));
            await stream.WriteAsync(body);
            return request.ToString();
        });

        using var store = new S3ObjectStore(
            S3ClientFactory.Create(new S3Settings("us-east-1", $"http://127.0.0.1:{port}", true, null, null, false, TimeSpan.FromSeconds(20)),
                new BasicAWSCredentials("AKIDEXAMPLE", "secret")),
            "bucket", 8L << 20, 1, Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance);
        var failures = await store.DeleteAsync(["a", "b"], CancellationToken.None);
        string sent = await server.WaitAsync(TimeSpan.FromSeconds(20));

        var headers = sent[..sent.IndexOf("\r\n\r\n", StringComparison.Ordinal)].Split("\r\n").Skip(1)
            .Select(line => line.Split(':', 2)).ToDictionary(p => p[0].Trim().ToLowerInvariant(), p => p[1].Trim());
        Assert.StartsWith("POST /bucket/?delete", sent);
        Assert.True(headers.ContainsKey("content-md5") || headers.Keys.Any(h => h.StartsWith("x-amz-checksum-", StringComparison.Ordinal)),
            "no Content-MD5 or x-amz-checksum-* header: " + string.Join(", ", headers.Keys));
        Assert.False(headers.TryGetValue("content-encoding", out string? encoding) && encoding.Contains("aws-chunked"), "the checksum must be a header, not a trailer");
        Assert.Contains("<Quiet>true</Quiet>", sent);
        Assert.Contains("x-amz-checksum-crc32c", headers.Keys);
        var failure = Assert.Single(failures);
        Assert.Equal(("b", "AccessDenied"), (failure.Key, failure.Code));
    }
}
