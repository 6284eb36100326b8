// BI questions through the PostgreSQL JDBC driver as a role with anonymized
// access.
//
// Connects as bi_reader (anonymized access to responses, no SELECT on it) and
// as survey_owner (the table's owner) to the database anonymize_clients made
// by test/clients/run.  The test cluster listens on a Unix socket only
// (PGHOST, PGPORT), which the driver cannot reach: a local TCP port relays
// the bytes to it.  prepareThreshold=1 makes every PreparedStatement a named
// server-side statement from its first execution; each is run eight times,
// with plan_cache_mode auto and force_generic_plan, the filter set with
// setString (sent as varchar).  Exits 1 with a message naming the question
// and both answers when something differs.

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DatabaseMetaData;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.ResultSetMetaData;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;

import org.postgresql.PGStatement;

public class BiJdbc {
	static final String DB = "anonymize_clients";
	static final int K = 5;
	static final String[] TENURES = {"1-3y", "3y+", "<1y"};
	static final String[][] COLUMNS = {{"department", "very_sensitive"}, {"site", "somewhat_sensitive"}};
	static final int RUNS = 8;
	static final List<String> failures = new ArrayList<>();

	/** One row of an answer: key, count, avg (null for NULL). */
	record Row(String key, Long n, Double mean) {
		public String toString() {
			return key + " | " + (n == null ? "NULL" : n) + " | " + (mean == null ? "NULL" : mean);
		}
	}

	static void fail(String msg) {
		failures.add(msg);
		System.out.println("FAILED: " + msg);
	}

	/** The BI tool's question, with ? for the filter. */
	static String biQuery(String col) {
		return "SELECT " + col + ", count(*) AS count, avg(score) AS avg FROM responses "
			+ "WHERE tenure = ? GROUP BY " + col + " ORDER BY " + col;
	}

	/** What the owner computes for the same rows with anonymized_breakout (the grantee gets no row for a hidden group). */
	static String ownerQuery(String col, String sensitivity) {
		return "SELECT b.label, b.n, b.mean FROM (SELECT anonymize.anonymized_breakout(" + col
			+ ", score, " + K + ", '" + sensitivity + "') AS a FROM responses WHERE tenure = ?) AS s, "
			+ "unnest(s.a) AS b WHERE b.status <> 'hidden' ORDER BY b.label";
	}

	static String fmt(List<Row> rows) {
		if (rows.isEmpty())
			return "    (no row)";
		StringBuilder sb = new StringBuilder();
		for (Row r : rows)
			sb.append(sb.length() > 0 ? "\n" : "").append("    ").append(r);
		return sb.toString();
	}

	static boolean compare(String what, List<Row> got, List<Row> want, String wantName) {
		if (!got.equals(want)) {
			fail(what + ": got\n" + fmt(got) + "\n  but " + wantName + "\n" + fmt(want));
			return false;
		}
		return true;
	}

	static List<Row> rows(ResultSet rs) throws SQLException {
		List<Row> out = new ArrayList<>();
		while (rs.next()) {
			String key = rs.getString(1);
			long n = rs.getLong(2);
			Long nn = rs.wasNull() ? null : n;
			double m = rs.getDouble(3);
			Double mm = rs.wasNull() ? null : m;
			out.add(new Row(key, nn, mm));
		}
		return out;
	}

	static Map<String, List<Row>> loadExpected(Path file) throws IOException {
		Map<String, List<Row>> expected = new LinkedHashMap<>();
		for (String line : Files.readAllLines(file)) {
			if (line.isEmpty() || line.startsWith("#"))
				continue;
			String[] f = line.split("\t", -1);
			expected.computeIfAbsent(f[0] + "\t" + f[1], x -> new ArrayList<>()).add(new Row(f[2],
				f[3].equals("\\N") ? null : Long.valueOf(f[3]),
				f[4].equals("\\N") ? null : Double.valueOf(f[4])));
		}
		return expected;
	}

	static String err(SQLException e) {
		return "SQLSTATE " + e.getSQLState() + ": " + e.getMessage();
	}

	/** Relays a local TCP port to the server's Unix socket, two threads per connection. */
	static int startRelay(Path socket) throws IOException {
		ServerSocket server = new ServerSocket(0, 50, InetAddress.getLoopbackAddress());
		Thread acceptor = new Thread(() -> {
			while (true) {
				try {
					Socket client = server.accept();
					client.setTcpNoDelay(true);
					SocketChannel pg = SocketChannel.open(StandardProtocolFamily.UNIX);
					pg.connect(UnixDomainSocketAddress.of(socket));
					InputStream fromClient = client.getInputStream();
					OutputStream toClient = client.getOutputStream();
					daemon(() -> {
						// client to server (a channel's reads and writes do not block each other)
						byte[] buf = new byte[65536];
						int n;
						while ((n = fromClient.read(buf)) > 0) {
							ByteBuffer bb = ByteBuffer.wrap(buf, 0, n);
							while (bb.hasRemaining())
								pg.write(bb);
						}
					}, client, pg);
					daemon(() -> {
						ByteBuffer bb = ByteBuffer.allocate(65536);
						while (pg.read(bb) > 0) {
							toClient.write(bb.array(), 0, bb.position());
							toClient.flush();
							bb.clear();
						}
					}, client, pg);
				} catch (IOException e) {
					return;
				}
			}
		});
		acceptor.setDaemon(true);
		acceptor.start();
		return server.getLocalPort();
	}

	interface Copy {
		void run() throws IOException;
	}

	/** Runs one direction of a relayed connection; the end of either side closes both. */
	static void daemon(Copy copy, Socket client, SocketChannel pg) {
		Thread t = new Thread(() -> {
			try {
				copy.run();
			} catch (IOException e) {
				// the other side closed
			}
			try {
				client.close();
				pg.close();
			} catch (IOException e) {
				// already closed
			}
		});
		t.setDaemon(true);
		t.start();
	}

	/** The same PreparedStatement eight times; checks names, types, rows and the plans used. */
	static void preparedRounds(Connection bi, Map<String, List<Row>> expected, String col, String mode)
		throws SQLException {
		try (Statement st = bi.createStatement()) {
			st.execute("SET plan_cache_mode = " + mode);
		}
		String sql = biQuery(col);
		int okRuns = 0;
		try (PreparedStatement ps = bi.prepareStatement(sql)) {
			for (int i = 0; i < RUNS; i++) {
				String tenure = TENURES[i % TENURES.length];
				String what = "GROUP BY " + col + " WHERE tenure = '" + tenure + "' (PreparedStatement, execution "
					+ (i + 1) + ", plan_cache_mode " + mode + ")";
				ps.setString(1, tenure);
				try (ResultSet rs = ps.executeQuery()) {
					ResultSetMetaData md = rs.getMetaData();
					String names = md.getColumnCount() == 3 ? md.getColumnLabel(1) + " " + md.getColumnTypeName(1) + ", "
						+ md.getColumnLabel(2) + " " + md.getColumnTypeName(2) + ", " + md.getColumnLabel(3) + " "
						+ md.getColumnTypeName(3) : md.getColumnCount() + " columns";
					String wantNames = col + " text, count int8, avg float8";
					if (!names.equals(wantNames))
						fail(what + ": columns " + names + ", not " + wantNames);
					if (compare(what, rows(rs), expected.getOrDefault(col + "\t" + tenure, List.of()),
						"expected.tsv (which the owner's anonymized_breakout gives) holds"))
						okRuns++;
				} catch (SQLException e) {
					fail(what + ": " + err(e));
				}
				if (!ps.unwrap(PGStatement.class).isUseServerPrepare())
					fail(what + ": the driver did not use a server-side prepared statement");
			}
		}
		String serverText = sql.replace("?", "$1");
		try (PreparedStatement ps = bi.prepareStatement(
			"SELECT name, generic_plans, custom_plans FROM pg_prepared_statements WHERE statement = ?")) {
			ps.setString(1, serverText);
			try (ResultSet rs = ps.executeQuery()) {
				if (!rs.next())
					fail("GROUP BY " + col + ": no server-side prepared statement in pg_prepared_statements"
						+ " (no Parse of it succeeded)");
				else {
					long generic = rs.getLong(2);
					System.out.println("PreparedStatement GROUP BY " + col + " (" + mode + "): server statement "
						+ rs.getString(1) + ", " + generic + " generic and " + rs.getLong(3) + " custom plans, "
						+ okRuns + " of " + RUNS + " answers right");
					if (mode.equals("force_generic_plan") && generic < RUNS)
						fail("GROUP BY " + col + ": " + generic + " generic plans of " + RUNS
							+ " executions under force_generic_plan");
				}
			}
		}
		try (Statement st = bi.createStatement()) {
			st.execute("RESET plan_cache_mode");
		}
	}

	/**
	 * The question in a transaction with a fetch size, as tools that stream
	 * large results run it: the driver fetches two rows at a time from the
	 * server's portal.
	 */
	static void fetchInParts(Connection bi, Map<String, List<Row>> expected) throws SQLException {
		String what = "GROUP BY site WHERE tenure = '1-3y' (autocommit off, fetch size 2)";
		bi.setAutoCommit(false);
		try (PreparedStatement ps = bi.prepareStatement(biQuery("site"))) {
			ps.setFetchSize(2);
			ps.setString(1, "1-3y");
			try (ResultSet rs = ps.executeQuery()) {
				if (compare(what, rows(rs), expected.get("site\t1-3y"), "expected.tsv holds"))
					System.out.println("ok " + what);
			}
		} catch (SQLException e) {
			fail(what + ": " + err(e));
		} finally {
			bi.rollback();
			bi.setAutoCommit(true);
		}
	}

	static void metadata(Connection bi) throws SQLException {
		DatabaseMetaData md = bi.getMetaData();
		List<String> tables = new ArrayList<>();
		try (ResultSet rs = md.getTables(null, "public", "responses", null)) {
			while (rs.next()) {
				String t = rs.getString("TABLE_SCHEM") + "." + rs.getString("TABLE_NAME") + " " + rs.getString("TABLE_TYPE");
				System.out.println("getTables: " + t + " (remarks: " + rs.getString("REMARKS") + ")");
				tables.add(t);
			}
		} catch (SQLException e) {
			fail("DatabaseMetaData.getTables as bi_reader: " + err(e));
		}
		if (!tables.equals(List.of("public.responses TABLE")))
			fail("DatabaseMetaData.getTables as bi_reader: " + tables + ", not [public.responses TABLE]");
		List<String> cols = new ArrayList<>();
		try (ResultSet rs = md.getColumns(null, "public", "responses", null)) {
			while (rs.next()) {
				String c = rs.getInt("ORDINAL_POSITION") + " " + rs.getString("COLUMN_NAME") + " "
					+ rs.getString("TYPE_NAME") + " " + rs.getString("IS_NULLABLE");
				System.out.println("getColumns: " + c + " (java.sql.Types " + rs.getInt("DATA_TYPE") + ")");
				cols.add(c);
			}
		} catch (SQLException e) {
			fail("DatabaseMetaData.getColumns as bi_reader: " + err(e));
		}
		List<String> want = List.of("1 person_id int4 NO", "2 department text NO", "3 site text NO",
			"4 tenure text NO", "5 score float8 NO");
		if (!cols.equals(want))
			fail("DatabaseMetaData.getColumns as bi_reader: " + cols + ", not " + want);
	}

	/** A query of the grantee that must fail with insufficient_privilege. */
	static void refused(Connection bi, String sql, String param) {
		String what = sql + " as bi_reader (PreparedStatement)";
		try (PreparedStatement ps = bi.prepareStatement(sql)) {
			if (param != null)
				ps.setString(1, param);
			try (ResultSet rs = ps.executeQuery()) {
				int n = 0;
				while (rs.next())
					n++;
				fail(what + " returned " + n + " rows, not SQLSTATE 42501");
			}
		} catch (SQLException e) {
			if (Objects.equals(e.getSQLState(), "42501"))
				System.out.println("ok " + what + ": " + err(e));
			else
				fail(what + ": " + err(e) + ", not SQLSTATE 42501");
		}
	}

	public static void main(String[] args) throws Exception {
		Map<String, List<Row>> expected = loadExpected(Path.of(args[0]));
		int port = startRelay(Path.of(System.getenv("PGHOST"), ".s.PGSQL." + System.getenv("PGPORT")));
		String url = "jdbc:postgresql://127.0.0.1:" + port + "/" + DB + "?prepareThreshold=1&ApplicationName=bi_jdbc";
		try (Connection owner = DriverManager.getConnection(url, "survey_owner", "");
			 Connection bi = DriverManager.getConnection(url, "bi_reader", "")) {
			DatabaseMetaData md = bi.getMetaData();
			System.out.println(md.getDriverName() + " " + md.getDriverVersion() + ", Java "
				+ System.getProperty("java.version") + ", server " + md.getDatabaseProductVersion());

			for (String[] c : COLUMNS) {
				for (String tenure : TENURES) {
					try (PreparedStatement ps = owner.prepareStatement(ownerQuery(c[0], c[1]))) {
						ps.setString(1, tenure);
						try (ResultSet rs = ps.executeQuery()) {
							String owned = "owner's anonymized_breakout(" + c[0] + ", score, " + K + ", '" + c[1]
								+ "') WHERE tenure = '" + tenure + "'";
							List<Row> want = expected.getOrDefault(c[0] + "\t" + tenure, List.of());
							if (compare(owned, rows(rs), want, "expected.tsv holds"))
								System.out.println("ok " + owned + ": the " + want.size() + " rows of expected.tsv");
						}
					}
				}
			}
			int before = failures.size();
			preparedRounds(bi, expected, "department", "auto");
			preparedRounds(bi, expected, "site", "force_generic_plan");
			if (failures.size() == before)
				System.out.println("ok PreparedStatements, " + RUNS + " executions each, auto and force_generic_plan");

			fetchInParts(bi, expected);

			before = failures.size();
			metadata(bi);
			if (failures.size() == before)
				System.out.println("ok DatabaseMetaData.getTables and getColumns as bi_reader");

			try (PreparedStatement ps = bi.prepareStatement("SELECT 1");
				 ResultSet rs = ps.executeQuery()) {
				if (rs.next() && rs.getInt(1) == 1 && !rs.next())
					System.out.println("ok SELECT 1 as bi_reader");
				else
					fail("SELECT 1 as bi_reader: not one row holding 1");
			} catch (SQLException e) {
				fail("SELECT 1 as bi_reader: " + err(e));
			}

			refused(bi, "SELECT * FROM responses", null);
			refused(bi, "SELECT * FROM responses WHERE tenure = ?", "1-3y");
			refused(bi, "SELECT department, min(score) AS min FROM responses WHERE tenure = ? GROUP BY department", "1-3y");

			String what = "GROUP BY department WHERE tenure = '3y+' after the refused queries";
			try (PreparedStatement ps = bi.prepareStatement(biQuery("department"))) {
				ps.setString(1, "3y+");
				try (ResultSet rs = ps.executeQuery()) {
					if (compare(what, rows(rs), expected.get("department\t3y+"), "expected.tsv holds"))
						System.out.println("ok " + what);
				}
			} catch (SQLException e) {
				fail(what + ": " + err(e));
			}
		}
		if (!failures.isEmpty()) {
			System.out.println("bi_jdbc: " + failures.size() + " check(s) failed");
			System.exit(1);
		}
	}
}
