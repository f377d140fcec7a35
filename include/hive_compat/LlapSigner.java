// The shape of Hive's LlapSigner (hive-llap-common 2.3), for the local HiveServer2 only.
//
// Spark 4 no longer ships hive-llap-common (SPARK-51029), yet Hive's FunctionRegistry
// registers get_splits, whose class implements LlapSigner.Signable. Without this type
// the registry's static initializer fails with a NoClassDefFoundError, and Hive 2.3's
// registerAllFunctionsOnce, which recovers only from a HiveException, stays "pending"
// for the life of the server: every later session close that builds a Hive client then
// waits forever. get_splits itself needs LLAP and stays unusable; nothing here runs.
package org.apache.hadoop.hive.llap.security;

import java.io.IOException;

public interface LlapSigner {
  interface Signable {
    void setSignInfo(int masterKeyId);

    byte[] serialize() throws IOException;
  }

  class SignedMessage {
    public byte[] message;
    public byte[] signature;
  }

  SignedMessage serializeAndSign(Signable message) throws IOException;
}
