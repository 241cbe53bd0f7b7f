using BenchmarkDotNet.Running;

namespace WalShip.Bench;

public static class Program
{
    public static void Main(string[] args)
    {
        if (args is ["ratio"])
        {
            RatioReport.Print();
            return;
        }
        if (args is ["make-archive", var format, var root, var count, var segmentSize, .. var rest])
        {
            AdminArchive.Make(format, root, int.Parse(count), uint.Parse(segmentSize), copies: rest is ["copies"]);
            return;
        }
        BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
    }
}
