def test_world_builds(world):
    assert world.users["rep_east"].department == world.depts["east"]


def test_login_page_renders(client, db):
    assert client.get("/login/").status_code == 200


def test_home_renders_for_admin(world, client_for):
    response = client_for(world.admin).get("/")
    assert response.status_code == 200, response.content[:2000]
